"""A served process's Prometheus samples, read from its /metrics as a scraper would."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def metric_samples(client: httpx.Client) -> Samples:
    """Every sample on `client`'s /metrics: name -> sorted labels -> value (BentoML sums a
    service's processes)."""
    found: Samples = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found
