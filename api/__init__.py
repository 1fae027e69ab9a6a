"""The HTTP API: request/response models (`protocol`), errors, and serving logic."""

__version__ = "0.1.0"
