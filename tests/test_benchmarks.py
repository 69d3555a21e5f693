"""The benchmark suite's --quick run (what CI runs) writes JSON and Markdown."""

import json


def test_quick_suite_writes_reports(tiny_int8, tmp_path, capsys):
    from benchmarks.__main__ import main

    assert main(["--quick", "--model", str(tiny_int8), "--out", str(tmp_path)]) == 0
    (js,) = tmp_path.glob("*-tiny_int8-quick.json")
    r = json.loads(js.read_text())
    assert r["hardware"]["interpreter"].startswith("litert")
    crop = r["crop"][0]
    assert crop["runs"] == 20 and 0 < crop["p50"] <= crop["p99"]
    assert r["cold_start"]["peak_rss_mb_max"] > 0
    md = js.with_suffix(".md").read_text()
    assert "| classify one crop | 1 | on | 20 |" in md


def test_bad_threads_flag(capsys):
    from benchmarks.__main__ import main

    assert main(["--quick", "--threads", "x"]) == 2
