"""Our loggers at the configured level.

BentoML sets up the handlers (its format, trace ids) but leaves the root logger at
WARNING, which would hide this service's own INFO lines: outputs stored, streams stopped
by a disconnect, voices loaded. Our packages get their level here; their records go to
BentoML's handlers.
"""

from __future__ import annotations

import logging

PACKAGES = ("api", "audio", "concat", "config", "lifecycle", "models", "outputs", "runners", "service", "storage", "voices")


def configure_logging(level: str) -> None:
    for package in PACKAGES:
        logging.getLogger(package).setLevel(level)
