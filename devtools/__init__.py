"""Helpers that the tests and the benchmarks both use: servers on free ports, raw HTTP, uploads, WAV makers,
the crawler's farm, resource measurement. Neither tests/ nor bench/ imports the other; both import this."""
