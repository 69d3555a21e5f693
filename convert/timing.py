"""Timing calls on this machine: percentiles of repeated calls, and several
functions timed in interleaved passes so that drift hits them alike (compare
timings as ratios measured in the same run, never as absolute figures)."""

from __future__ import annotations

import time

import numpy as np


def stats_ms(samples_s: list[float]) -> dict:
    a = np.asarray(samples_s) * 1e3
    return {"runs": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}


def call_samples(fn, warmup: int, runs: int, budget_s: float | None = None, min_runs: int = 30) -> list[float]:
    """Seconds of ``runs`` timed calls after a warm-up; with ``budget_s``, fewer
    (at least ``min_runs``) when the calls are slow, so that they take about that long."""
    for _ in range(warmup):
        fn()
    out = []
    start = time.perf_counter()
    for i in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if budget_s is not None and i + 1 >= min_runs and time.perf_counter() - start > budget_s:
            break
    return out


def time_calls(fn, warmup: int, runs: int, budget_s: float | None = None, min_runs: int = 30) -> dict:
    """:func:`call_samples` summarized by :func:`stats_ms`."""
    return stats_ms(call_samples(fn, warmup, runs, budget_s, min_runs))


def interleaved(fns: dict, rounds: int = 3, runs: int = 300, budget_s: float = 2.0) -> dict[str, dict]:
    """:func:`stats_ms` of each function, timed in ``rounds`` interleaved passes
    (so that the machine's drift hits all of them alike), at most ``runs``
    calls and about ``budget_s`` seconds each."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            samples[k] += call_samples(fn, 10, runs // rounds, budget_s / rounds)
    return {k: stats_ms(v) for k, v in samples.items()}
