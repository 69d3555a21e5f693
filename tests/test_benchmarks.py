"""The benchmark suite's --quick run (what CI runs) writes JSON and Markdown."""

import json


def test_quick_suite_writes_reports(tiny_int8, tmp_path, capsys):
    from benchmarks.__main__ import main

    assert main(["--quick", "--model", str(tiny_int8), "--out", str(tmp_path)]) == 0
    (js,) = tmp_path.glob("*-tiny_int8-quick.json")
    r = json.loads(js.read_text())
    assert r["hardware"]["interpreter"].startswith("litert")
    (crop,) = r["latency"]
    assert crop["runs"] == 20 and 0 < crop["p50"] <= crop["p99"]
    assert (crop["variant"], crop["threads"], crop["xnnpack"]) == ("int8", 1, True)
    assert r["cold_start"]["peak_rss_mb_max"] > 0 and r["wall_s"] > 0
    md = js.with_suffix(".md").read_text()
    assert "suite wall time" in md
    assert "| int8 | litert" in md and "| 1 | on | 20 |" in md


def test_bad_threads_flag(capsys):
    from benchmarks.__main__ import main

    assert main(["--quick", "--threads", "x"]) == 2


def test_time_budget_bounds_slow_cells():
    import time

    from benchmarks.latency import time_calls

    r = time_calls(lambda: time.sleep(0.002), warmup=1, runs=500, budget_s=0.05)
    assert 30 <= r["runs"] < 500


def test_markdown_lists_every_cell_and_peer_ratio():
    from benchmarks.report import markdown

    cell = {"variant": "int8", "backend": "litert", "backend_version": "2", "threads": 1, "xnnpack": True,
            "runs": 30, "p50": 2.0, "p90": 2.1, "p99": 2.2, "mean": 2.0, "std": 0.1, "load_ms": 5.0, "bytes": 10}
    r = {"model": {"name": "m"}, "command": "c", "date": "d", "threads": [1],
         "hardware": {"cpu": "x", "cores": 2, "machine": "x86_64", "os": "Linux", "python": "3", "numpy": "2",
                      "interpreter": "litert 2", "interpreters": ["litert 2"]},
         "latency": [cell, dict(cell, backend="tflite_runtime", environment="/v/bin/python", xnnpack=False),
                     dict(cell, variant="float32", error="boom")],
         "photo": {"per_photo": [{"photo": "a.png", "p50": 9.0}], "detector": "blazeface", "threads": 1,
                   "median_of_photo_medians_ms": 9.0, "photos": 1, "faces_found": 1},
         "phone_photo": [{"per_photo": [{"photo": "big.jpg", "p50": p50}], "detector": "blazeface", "threads": 1,
                          "reduce_jpeg": x} for x, p50 in ((True, 20.0), (False, 90.0))],
         "peers": {"fer": {"version": "22.5.1", "accuracy": {}, "crop_latency": {"p50": 20.0}, "ours_crop_p50": 2.0,
                           "crop_ratio": 10.0, "pipeline": {"photos": 1, "faces_found": 1,
                                                            "median_of_photo_medians_ms": 90.0}, "photo_ratio": 10.0}}}
    r["browser"] = {"browser": "Chromium 1", "runtime": "LiteRT.js wasm, 1 thread",
                    "tiers": {"release": {"median_ms": 5.0, "mean_ms": 5.1, "runs": 300},
                              "fast": {"median_ms": 4.0, "mean_ms": 4.1, "runs": 300}}}
    from benchmarks.report import tier_lines

    t = dict(r, latency=r["latency"] + [dict(cell, variant="micro_int8", p50=0.5)],
             tiers={"int8": {"bytes": 2048, "macs": 54e6}, "micro_int8": {"bytes": 1024, "macs": 4e6}},
             accuracy={"micro_int8": {"PrivateTest": {"accuracy": 0.6}}},
             reference={"pi4_estimate_ms": 10.0, "ratio_at_pi4_threads": 0.1})
    rows = "\n".join(tier_lines(t))
    assert "| int8 |  |  | 2.000 | 1.00x | 54.0 M | 2 KiB | 10.0 ms |" in rows
    assert "| micro_int8 | 60.00% |  | 0.500 | 0.25x | 4.0 M | 1 KiB | 2.5 ms |" in rows
    md = markdown(r)
    assert "| release | 5.0 | 2.000 | 2.5x |" in md      # browser beside the Python runtime, same run
    assert "| fast | 4.0 |  |  |" in md                   # no Python fast_int8 cell in this run
    assert "| int8 | litert 2 | 1 | on | 30 | 2.000 |" in md
    assert "tflite_runtime 2 (own env) | 1 | off" in md
    assert "| float32 | litert 2 | 1 | on | failed: boom |" in md
    assert "`a.png`" in md and "| 10.0x |" in md
    assert "`big.jpg`: decode + detect (blazeface) + crop + classify, 1 thread | 20.00 ms |" in md
    assert "`big.jpg`: decode + detect (blazeface) + crop + classify, 1 thread (JPEG decoded at full size" in md


def test_pi4_estimate_uses_the_published_figures_thread_count(monkeypatch):
    """ratio at the figure's thread count x the published time; without a cell
    at that count, no estimate but a reason."""
    import argparse

    from benchmarks import reference
    from benchmarks.__main__ import reference_section
    from benchmarks.report import pi4_text

    monkeypatch.setattr(reference, "latency", lambda path, threads, **kw: {
        "p50": {1: 8.0, 4: 4.0}[threads], "model": "ref.tflite", "interpreter": "litert 2", "threads": threads})
    cell = {"variant": "int8", "backend": "litert", "xnnpack": True}
    r = {"hardware": {"interpreter": "litert 2"},
         "latency": [dict(cell, threads=1, p50=2.0), dict(cell, threads=4, p50=1.0)]}
    a = argparse.Namespace(pi4_reference=None, pi4_source="", pi4_threads=1)
    ref = reference_section(r, None, a)
    assert ref["ratio_int8"] == 0.25 and ref["pi4_threads"] == reference.PUBLISHED["threads"] == 4
    assert abs(ref["pi4_estimate_ms"] - 0.25 * reference.PUBLISHED["ms"]) < 1e-9
    assert "Estimated Pi 4 latency of one crop: 0.250 x 44 ms = 11.0 ms" in pi4_text(ref)
    a = argparse.Namespace(pi4_reference=100.0, pi4_source="somewhere", pi4_threads=2)
    ref = reference_section(r, None, a)
    assert "pi4_estimate_ms" not in ref and "no int8 latency at 2 threads" in pi4_text(ref)


def test_release_cells_are_the_release_model_only():
    """Ratios (Pi 4 estimate, the fer comparison) use the release model's
    cells, not the fast model's measured in the same run."""
    from benchmarks import report

    cell = {"backend": "litert", "xnnpack": True, "threads": 1, "p50": 2.0}
    r = {"hardware": {"interpreter": "litert 2.3.0"},
         "latency": [dict(cell, variant="int8"), dict(cell, variant="fast_int8", p50=1.0),
                     dict(cell, variant="int8", xnnpack=False), dict(cell, variant="int8", backend="tensorflow")]}
    assert [c["p50"] for c in report.primary_cells(r)] == [2.0]
    assert [c["variant"] for c in report.primary_cells(r, ("int8", "fast_int8"))] == ["int8", "fast_int8"]


def test_browser_benchmark_says_why_it_is_skipped(monkeypatch, tmp_path):
    from benchmarks import browser

    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    assert browser.measure() == {"skipped": "Node.js is not installed"}
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/node")
    monkeypatch.setattr(browser, "WEB", tmp_path)
    assert "not built" in browser.measure()["skipped"]
    assert browser.lines({"skipped": "why"}, {}) == ["Not measured: why."]
