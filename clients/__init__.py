"""Relying parties of SPOM Login: the SPOM dashboard and the Supplier Portal, on shared plumbing (``common``)."""
