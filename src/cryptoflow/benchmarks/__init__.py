"""Benchmarks behind ``cryptoflow bench ...`` (figures printed, never asserted in unit tests)."""
