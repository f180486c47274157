"""Benchmarks: one script per measured claim (bench_*.py) and ``python -m benchmarks``, the table
of every headline read from the results under docs/benchmarks/ (see __main__.py)."""
