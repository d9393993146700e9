"""Client registration: the metadata rules and the lifecycle."""
