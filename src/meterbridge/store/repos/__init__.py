"""Row look-ups and writes, per aggregate: the only place outside the migrations that builds SQL.

Each function takes the caller's session (one unit of work is the service's to decide) and
returns rows or plain values; nothing here raises a service error: a missing row is ``None``,
and the service says what it means to the user.
"""
