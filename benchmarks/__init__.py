"""Benchmarks: one command each, printing their figures. See README, "Benchmarks"."""
