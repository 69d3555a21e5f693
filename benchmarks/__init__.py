"""Benchmarks and measurements behind the numbers fer-edge reports."""
