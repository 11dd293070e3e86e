"""Golden images and stateful replacements: immutable web servers, a database that keeps its data.

- ``Golden``: an image built from ``provision/`` (an Ansible role, a shell script, a file).
  Its identity is a hash of those files: edit any of them and the next plan shows a new
  image and every web server replaced with it.
- ``Web``: two web servers running the golden image.
- ``Db``: a stateful database server whose data lives on its own volume. Replacing it
  stops the old server, moves the volume (same volume id) to the new one, runs
  ``db/migrate.sh``, and only then terminates the old server.

Deploy it to the embedded local cloud with
``infradsl deploy examples/golden-image/app.py --yes``.
"""

from __future__ import annotations

from golden_web import GoldenWeb

from infradsl import App

app = App()
GoldenWeb(app, "golden", region="us-east-1")
