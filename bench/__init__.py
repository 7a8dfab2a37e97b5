"""Benchmarks: `make bench` measures, side by side in one run, and writes docs/benchmarks.md."""
