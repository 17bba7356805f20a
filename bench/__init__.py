"""Benchmarks that drive a real Ember through its gateway and print figures
against the targets the issues set; run each with `python -m bench.<name>`."""
