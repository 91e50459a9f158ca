"""Helpers shared by the tests and the benchmarks (never shipped: the wheel holds engine/ and nlviz/ only)."""
