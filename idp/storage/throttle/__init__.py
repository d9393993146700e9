"""Brute-force counters: the pure arithmetic and its in-process and Redis backends."""
