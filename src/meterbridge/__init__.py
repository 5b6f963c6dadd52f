"""meterbridge: backup usage to correct, explained, never-twice billing in ConnectWise Manage.

Layers (DESIGN.md): domain and connectwise at the bottom, store above them, services above
that, and web / cli / jobs on top. The packages arrive with the issues that build them.
"""

__version__ = "0.1.0"
