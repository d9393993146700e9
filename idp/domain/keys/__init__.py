"""Signing keys: material, lifecycle rules and each process's key store."""
