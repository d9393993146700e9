"""Interop: real, independent relying-party implementations (pinned, from the registries) against a
live provider, each driving it only as its own documentation says (issue 16)."""
