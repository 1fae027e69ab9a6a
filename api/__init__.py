"""The HTTP API: the app and its middlewares, one router per endpoint family, request and response models (`protocol`, `openai_protocol`), errors, and serving logic."""

__version__ = "0.1.0"
