"""Use cases (no Flask): dependencies passed in, never commit, always audit."""
