"""meterbridge over HTTP: the REST API under /api/v1 (and the console, next), one FastAPI app
started by ``meterbridge serve``, over the same services and views as the command line."""
