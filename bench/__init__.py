"""Benchmarks: one command each, `python -m bench.<name>`; results go to docs/benchmarks.md."""
