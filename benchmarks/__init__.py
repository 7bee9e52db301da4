"""The performance benchmarks quoted in the README (``python -m benchmarks.derive`` and so on)."""
