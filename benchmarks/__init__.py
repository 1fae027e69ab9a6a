"""Benchmark scripts (run each as a file: `.venv/bin/python benchmarks/<name>.py --help`) and
their shared helpers. A package so its helpers import as `benchmarks.*` (a dependency ships a
top-level `benchmarks` package of its own, which would win over a plain folder)."""
