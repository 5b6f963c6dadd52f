"""vendorsim: a small simulator of a backup vendor's usage API (``GET /v1/usage``).

Imports nothing of meterbridge or cwsim. Start it with ``python -m vendorsim serve`` or build
the ASGI app with :func:`vendorsim.app.create_app`. See docs/vendorsim.md.
"""

__version__ = "0.1.0"
