"""Contract suites: one behaviour suite per port (``idp.core.ports``), run on every backend
(store: memory, Redis, database on SQLite and PostgreSQL, Redis with the database fallback;
throttle: memory, Redis; SQL repositories: SQLite, PostgreSQL). A backend joins by subclassing
the suite's contract class and providing its fixture (the pattern of Dex's storage/conformance)."""
