"""Decoding, validating, encoding and joining audio; no model and no storage here."""
