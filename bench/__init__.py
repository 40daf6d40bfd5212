"""Benchmark of the generated build against the tutorial's (python -m bench)."""
