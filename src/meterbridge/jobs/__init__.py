"""Billing that runs itself: the task functions (``tasks.py``) and the two dispatchers that run
them, the same functions either way:

* ``embedded.py``: in the ``meterbridge serve`` process (the embedded default, no other service);
* ``queue.py``: Procrastinate on PostgreSQL, for ``meterbridge worker`` processes on as many
  machines as needed, with a lock per tenant and queueing locks.
"""
