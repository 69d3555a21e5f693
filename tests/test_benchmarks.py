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
    assert r["cold_start"]["peak_rss_mb_max"] > 0
    md = js.with_suffix(".md").read_text()
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
         "peers": {"fer": {"version": "22.5.1", "accuracy": {}, "crop_latency": {"p50": 20.0}, "ours_crop_p50": 2.0,
                           "crop_ratio": 10.0, "pipeline": {"photos": 1, "faces_found": 1,
                                                            "median_of_photo_medians_ms": 90.0}, "photo_ratio": 10.0}}}
    md = markdown(r)
    assert "| int8 | litert 2 | 1 | on | 30 | 2.000 |" in md
    assert "tflite_runtime 2 (own env) | 1 | off" in md
    assert "| float32 | litert 2 | 1 | on | failed: boom |" in md
    assert "`a.png`" in md and "| 10.0x |" in md
