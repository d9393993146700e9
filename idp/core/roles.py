"""The roles a user can have (``users.role``): one list for the database, the settings and the CLI."""

ROLES = ("student", "employee", "vendor")
