"""Shared test support: helpers, fixtures' building blocks and test doubles for every tier."""
