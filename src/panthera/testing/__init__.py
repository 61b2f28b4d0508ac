"""Helpers for the test suite and the benchmarks: free ports, private brokers and caches,
the removal of what a run left on the machine's PostgreSQL and NATS, and the platform
started as real processes with a client that shops on it (`processes`, `shop`).

Nothing in the platform imports this package (an import-linter contract says so).
"""
