"""The store's tests use the suite-wide ``database_url`` / ``database`` fixtures (tests/conftest.py)."""
