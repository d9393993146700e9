"""Primitives with no Flask, Authlib or SQLAlchemy in them: pure values and rules."""
