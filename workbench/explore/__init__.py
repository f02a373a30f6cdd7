"""Systematic exploration of the protocol cores at small scope (issue 13)."""
