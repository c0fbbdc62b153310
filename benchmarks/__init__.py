"""The benchmark harness of issue 10 (`python benchmarks/run.py`; see benchmarks/README.md)."""
