"""Usage sources: readers that turn a file (CSV, JSON lines) or an HTTP JSON API into records.

A port, like ``connectwise`` and ``mail``: it imports nothing else of meterbridge. Readers stream:
they hold one row (or one page) at a time, whatever the size of the input, and yield each row as
a ``Record`` (the fields as text, with where it came from) or a ``Bad`` (where, what, what to do)
for a row they cannot read. A problem with the whole input (no header, an unknown column, a byte
the encoding cannot read) raises ``SourceError``; the services decide what to store.
"""

from meterbridge.sources.records import FIELDS, REQUIRED, Bad, Record, SourceError

__all__ = ["FIELDS", "REQUIRED", "Bad", "Record", "SourceError"]
