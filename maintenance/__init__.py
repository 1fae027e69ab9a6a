"""Operators' tools over the store: the consistency checker (`scripts/check_storage.py` runs it)."""
