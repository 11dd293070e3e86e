"""pytest: app.py is the entry point (``infradsl deploy app.py``); its stack lives in
golden_web.py, imported by the tests. Every example has an ``app.py``: only one can be
collected as the module ``app``."""

collect_ignore = ["app.py"]
