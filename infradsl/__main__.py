"""``python -m infradsl``: the same as the ``infradsl`` command."""

from infradsl.cli.main import main

main()
