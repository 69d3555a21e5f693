"""Crop time in the browser: the bundled tiers in LiteRT.js (WebAssembly, one
thread) in headless Chromium, measured by ``web-sample/scripts/bench.mjs``
against the page ``make web-test`` builds. Skipped, with the reason, where
Node.js, Chromium or the built page is missing."""

from __future__ import annotations

import json
import shutil
import subprocess

from benchmarks.variants import shipped_tiers
from train.paths import REPO

WEB = REPO / "web-sample"
#: web-sample tier -> benchmark variant
TIERS = shipped_tiers()


def measure(runs: int = 300, timeout_s: float = 600) -> dict:
    """``{"browser", "runtime", "tiers": {tier: {median_ms, mean_ms, runs}}}`` or ``{"skipped": why}``."""
    node = shutil.which("node")
    if node is None:
        return {"skipped": "Node.js is not installed"}
    if not (WEB / "dist" / "config.json").is_file() or not (WEB / "node_modules").is_dir():
        return {"skipped": "the web sample is not built (make web-test builds it)"}
    try:
        r = subprocess.run([node, "scripts/bench.mjs", "--runs", str(runs)], cwd=WEB, capture_output=True,
                           text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"skipped": f"the browser benchmark ran past {timeout_s:.0f} s"}
    if r.returncode:
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        return {"skipped": why}
    return json.loads(r.stdout)


def lines(b: dict, python_p50: dict[str, float]) -> list[str]:
    """Markdown rows: each tier's browser crop time beside the Python runtime's (1 thread, same run)."""
    if "skipped" in b:
        return [f"Not measured: {b['skipped']}."]
    out = [f"{b['browser']}; {b['runtime']}. Each run is a whole `classifyCrop` (input tensor, invoke, output "
           "tensor, dequantize); Chromium rounds `performance.now()` to 0.1 ms without cross-origin isolation, so "
           "the median is given to that step.", "",
           "| tier | browser ms/crop (median) | Python runtime ms/crop (p50, 1 thread) | browser / Python |",
           "|---|---|---|---|"]
    for tier, t in b["tiers"].items():
        py = python_p50.get(TIERS.get(tier, tier))
        ratio = f"{t['median_ms'] / py:.1f}x" if py else ""
        out.append(f"| {tier} | {t['median_ms']:.1f} | {'' if py is None else f'{py:.3f}'} | {ratio} |")
    return out
