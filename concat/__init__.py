"""Joining audio: request and job models, the streaming pipeline, and background jobs."""
