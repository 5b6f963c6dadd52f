"""cwsim: a local ConnectWise Manage simulator, faithful where meterbridge touches ConnectWise.

Imports nothing of meterbridge. Start it with ``cwsim serve`` or build the ASGI app with
:func:`cwsim.app.create_app`. See docs/cwsim.md.
"""

__version__ = "0.1.0"
