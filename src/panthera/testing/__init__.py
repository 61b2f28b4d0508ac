"""Helpers for the test suite and the benchmarks: free ports, private brokers and caches,
and the removal of what a run left on the machine's PostgreSQL and NATS.

Nothing in the platform imports this package (an import-linter contract says so).
"""
