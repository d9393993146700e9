"""Pure tests: no server, no database, no network (tests/unit/conftest.py refuses every socket connect)."""
