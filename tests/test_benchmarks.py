"""The benchmark suite's --quick run (what CI runs) writes JSON and Markdown."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


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
                              "micro": {"median_ms": 4.0, "mean_ms": 4.1, "runs": 300}}}
    from benchmarks.report import tier_lines

    t = dict(r, latency=r["latency"] + [dict(cell, variant="micro_int8", p50=0.5)],
             tiers={"int8": {"bytes": 2048, "macs": 54e6}, "micro_int8": {"bytes": 1024, "macs": 4e6}},
             accuracy={"micro_int8": {"PrivateTest": {"accuracy": 0.6},
                                      "PrivateTest_FERplus_majority": {"accuracy": 0.7},
                                      "wild_dev": {"accuracy": 0.68, "per_class": {"neutral": {"recall": 0.75}}},
                                      "posed_heldout": {"accuracy": 0.85, "per_class": {
                                          "angry": {"recall": 0.8}, "disgust": {"recall": 0.9}, "fear": {"recall": 0.5}}}}},
             pi4={"models": {"int8": {"ms": 10.0, "ms_low": 9.0, "ms_high": 12.5}}})
    rows = "\n".join(tier_lines(t))
    assert "| int8 |  |  |  |  |  | 2.000 | 1.00x | 54.0 M | 2 KiB | 10.0 ms (9.0-12.5) |" in rows
    # FER-2013, FER+, real web faces (issue #36) and posed people held out (issue #44) side by side
    assert ("| micro_int8 | 60.00% | 70.00% | 68.00% (75.00%) | 85.00% (0.80 / 0.90 / 0.50) |  | 0.500 | 0.25x | "
            "4.0 M | 1 KiB |  |") in rows
    md = markdown(r)
    assert "| release | 5.0 | 2.000 | 2.5x |" in md      # browser beside the Python runtime, same run
    assert "| micro | 4.0 |  |  |" in md                  # no Python micro_int8 cell in this run
    assert "| int8 | litert 2 | 1 | on | 30 | 2.000 |" in md
    assert "tflite_runtime 2 (own env) | 1 | off" in md
    assert "| float32 | litert 2 | 1 | on | failed: boom |" in md
    assert "`a.png`" in md and "| 10.0x |" in md
    assert "`big.jpg`: decode + detect (blazeface) + crop + classify, 1 thread | 20.00 ms |" in md
    assert "`big.jpg`: decode + detect (blazeface) + crop + classify, 1 thread (JPEG decoded at full size" in md


def test_pi4_estimate_scales_instruction_counts_by_the_references_median_rate(monkeypatch, tmp_path):
    """ms = instructions x the median ns per instruction of the published
    references; the band is their smallest and largest rate; each reference's
    error is the median rate's on it."""
    from benchmarks import pi4, reference

    counts = {"a": 100e6, "b": 200e6, "c": 400e6, "ours": 10e6}
    monkeypatch.setattr(reference, "PUBLISHED_MS", {"a": 40.0, "b": 100.0, "c": 120.0})
    monkeypatch.setattr(reference, "build", lambda name: Path(name))
    monkeypatch.setattr(pi4, "build_plugin", lambda: tmp_path / "p.so")
    monkeypatch.setattr(pi4, "CACHE", tmp_path / "counts.json")
    monkeypatch.setattr(pi4, "count", lambda path, plugin, **kw: {"simd": counts[str(path)] / 2,
                                                                  "memory": counts[str(path)] / 4,
                                                                  "other": counts[str(path)] / 4,
                                                                  "total": counts[str(path)]})
    e = pi4.estimate({"int8": Path("ours")}, log=lambda m: None)
    assert e["ns_per_instruction"] == {"median": 0.4, "min": 0.3, "max": 0.5}
    m = e["models"]["int8"]
    assert (round(m["ms"], 6), round(m["ms_low"], 6), round(m["ms_high"], 6)) == (4.0, 3.0, 5.0)
    assert abs(e["references"]["b"]["error"] + 0.2) < 1e-9          # 200 M x 0.4 ns = 80 ms against 100 ms
    text = pi4.text(e)
    assert "**Estimated Pi 4 latency of one crop: 4.0 ms (band 3.0-5.0 ms)**" in text
    assert "b 200 M instructions for 100 ms (-20%)" in text
    assert "| int8 | 10.0 M | 5.0 M | 2.5 M | 2.5 M |  | 4.0 ms | 3.0-5.0 ms |" in pi4.markdown(e)
    assert pi4.text({"error": "no userland"}) == "No Pi 4 estimate: no userland."


def test_pi4_references_are_cached_by_wheel_version(monkeypatch, tmp_path):
    """A reference network counted once is read back from the cache without
    being built again (no TensorFlow needed) while the aarch64 wheels are the
    same; another wheel version counts it again."""
    import json

    from benchmarks import arm64, pi4, reference

    site = tmp_path / "site"
    (site / "ai_edge_litert-2.3.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(arm64, "SITE", site)
    monkeypatch.setattr(pi4, "CACHE", tmp_path / "counts.json")
    monkeypatch.setattr(pi4, "build_plugin", lambda: tmp_path / "p.so")
    monkeypatch.setattr(reference, "PUBLISHED_MS", {"a": 40.0})
    built = []
    monkeypatch.setattr(reference, "build", lambda name: built.append(name) or Path(name))
    per = {"simd": 50e6, "memory": 25e6, "other": 25e6, "total": 100e6, "invocations": 20}

    def fake_count(path, plugin, key=None, **kw):
        from train.io import atomic_write_json

        atomic_write_json(pi4.CACHE, dict(pi4._known(pi4.CACHE), **{key or str(path): per}))
        return dict(per, cached=False)

    monkeypatch.setattr(pi4, "count", fake_count)
    first = pi4.estimate({}, log=lambda m: None)
    assert built == ["a"] and not first["references"]["a"].get("cached")
    again = pi4.estimate({}, log=lambda m: None)
    assert built == ["a"] and again["references"]["a"]["cached"] is True
    assert again["ns_per_instruction"] == first["ns_per_instruction"]
    (site / "ai_edge_litert-2.3.0.dist-info").rename(site / "ai_edge_litert-2.4.0.dist-info")
    pi4.estimate({}, log=lambda m: None)
    assert built == ["a", "a"] and len(json.loads(pi4.CACHE.read_text())) == 2


def test_pi4_count_is_the_difference_of_two_emulated_runs(monkeypatch, tmp_path):
    """Instructions per inference: (count after 2 + k invocations - after 2) / k,
    read from the plugin's output file, with k large enough for the difference
    to reach the target."""
    import subprocess

    from benchmarks import arm64, pi4

    monkeypatch.setattr(arm64, "emulated_python", lambda rootfs, site, qemu, plugin: (["emu", plugin], {}))

    def fake_run(cmd, **kw):
        n = int(cmd[-1])
        out = Path(cmd[1].split(",out=")[1])
        out.write_text(f"simd {1000 + 30 * n}\nmemory {500 + 10 * n}\nother {9000 + 5 * n}\n")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model")
    c = pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=900, cache=None)
    assert c == {"simd": 30.0, "memory": 10.0, "other": 5.0, "total": 45.0, "invocations": 20, "cached": False}
    assert pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=100, cache=None)["invocations"] == 10

    # a count is made once for the same model and set-up; another model, or other bytes, is counted again
    cache = tmp_path / "counts.json"
    assert not pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=900, cache=cache)["cached"]
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("counted again"))
    assert pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=900, cache=cache) == dict(c, cached=True)
    monkeypatch.setattr(subprocess, "run", fake_run)
    model.write_bytes(b"another model")
    assert not pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=900, cache=cache)["cached"]
    assert len(json.loads(cache.read_text())) == 2
    cache.write_text("{not json")                 # a damaged cache is counted again and rewritten
    assert not pi4.count(model, plugin=tmp_path / "p.so", site=tmp_path, target=900, cache=cache)["cached"]
    assert len(json.loads(cache.read_text())) == 1


def test_pi4_plugin_compiles_and_counts_under_qemu(tmp_path):
    """The instruction-counting plugin builds with the system C compiler; where
    the arm64 userland and qemu-aarch64 are installed, it counts a program."""
    import shutil
    import subprocess

    from benchmarks import arm64, pi4

    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    so = pi4.build_plugin(out=tmp_path / "insncount.so")
    assert so.is_file()
    true = arm64.ROOTFS / "bin" / "true"
    if shutil.which("qemu-aarch64") is None or not true.is_file():
        pytest.skip("arm64 userland not built (make arm64-setup)")
    out = tmp_path / "counts.txt"
    r = subprocess.run(["qemu-aarch64", "-L", str(arm64.ROOTFS), "-plugin", f"{so},out={out}", str(true)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    counts = pi4._read_counts(out)
    assert sum(counts.values()) > 1000 and counts["memory"] > 0


def test_release_cells_are_the_release_model_only():
    """Ratios (Pi 4 estimate, the fer comparison) use the release model's
    cells, not the micro model's measured in the same run."""
    from benchmarks import report

    cell = {"backend": "litert", "xnnpack": True, "threads": 1, "p50": 2.0}
    r = {"hardware": {"interpreter": "litert 2.3.0"},
         "latency": [dict(cell, variant="int8"), dict(cell, variant="micro_int8", p50=1.0),
                     dict(cell, variant="int8", xnnpack=False), dict(cell, variant="int8", backend="tensorflow")]}
    assert [c["p50"] for c in report.primary_cells(r)] == [2.0]
    assert [c["variant"] for c in report.primary_cells(r, ("int8", "micro_int8"))] == ["int8", "micro_int8"]


def test_browser_benchmark_says_why_it_is_skipped(monkeypatch, tmp_path):
    from benchmarks import browser

    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    assert browser.measure() == {"skipped": "Node.js is not installed"}
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/node")
    monkeypatch.setattr(browser, "WEB", tmp_path)
    assert "not built" in browser.measure()["skipped"]
    assert browser.lines({"skipped": "why"}, {}) == ["Not measured: why."]


def test_accuracy_measures_wild_dev_beside_fer2013(tmp_path, tiny_folder, tiny_int8):
    """Issue #36: the suite's accuracy has the real web faces of wild-dev (beside FER-2013) as a set of its own,
    and the tier table and the peer sentence show it with its neutral recall."""
    from PIL import Image

    from benchmarks import accuracy
    from benchmarks.report import peer_text, wild_cell
    from runtime.contract import LABELS
    from tests.conftest import synthetic_faces

    root, _ = tiny_folder
    faces = synthetic_faces(2 * len(LABELS), seed=3)
    for k, label in enumerate(np.repeat(LABELS, 2)):
        (root.parent / "wild-dev" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(faces[k]).save(root.parent / "wild-dev" / label / f"p{k}.png")
    r = accuracy.run({"int8": tiny_int8}, root, log=lambda m: None)["int8"]
    assert r["wild_dev"]["n"] == 2 * len(LABELS) and r["PrivateTest"]["n"] == 3 * len(LABELS)
    cell = wild_cell(r)
    assert cell.startswith(f"{100 * r['wild_dev']['accuracy']:.2f}% (") and cell.endswith("%)")
    peer = {"version": "1", "accuracy": r, "crop_latency": {"p50": 2.0}, "crop_ratio": 3.0}
    assert f"wild-dev (neutral recall) {cell}" in peer_text(peer, "Peer")
    assert wild_cell({"PrivateTest": {}}) == ""


def test_posed_figures_are_of_people_the_model_never_saw(tmp_path, tiny_folder, tiny_int8):
    """Issue #44: a model without a tier record (a peer's, a user's) is measured on every posed person, a tier
    trained with a fold held out on that fold, and a tier trained on every person only by its recipe's
    cross-validated probabilities, on its int8 row; the cell says how many people and whether it is that."""
    from benchmarks import accuracy
    from benchmarks.report import posed_cell
    from runtime.contract import LABELS
    from tests.test_posed import _posed_folder
    from train.paths import POSED_CV_NPZ
    from train.recipes import posed

    root, _ = tiny_folder
    _posed_folder(root.parent / "posed", people=12)
    r = accuracy.run({"int8": tiny_int8}, root, log=lambda m: None)["int8"]
    assert accuracy.posed_source(tiny_int8) == (posed.EVERY_FOLD, None)
    ev = accuracy.EvalData(root)
    faces = ev.posed_faces
    assert r["posed_heldout"]["n"] == len(faces.labels) and r["posed_heldout"]["people"] == 12
    assert posed_cell(r).endswith(", 12 people")

    probs = np.full((len(ev.labels), len(LABELS)), 1 / len(LABELS), np.float32)
    k = posed.fold_of(faces.persons[0], posed.FOLDS)                       # a fold that has people here
    one = accuracy.posed_figures(probs, ev, frozenset({k}), None, True)
    rows = posed.held_out_rows(faces, {k})
    assert 0 < len(rows) < len(faces.labels) and set(posed.folds_of(faces)[rows]) == {k}
    assert one["n"] == len(rows) and one["people"] == len(set(faces.persons[rows].tolist()))
    assert accuracy.posed_figures(probs, ev, frozenset(), None, True) is None       # trained on all, no record
    rec = tmp_path / "rec"
    rec.mkdir()
    np.savez_compressed(rec / POSED_CV_NPZ, names=faces.names.astype(str), label_names=np.array(LABELS),
                        probs=np.eye(len(LABELS), dtype=np.float32)[faces.labels], labels=faces.labels)
    assert accuracy.posed_figures(probs, ev, frozenset(), rec, False) is None        # a float variant: none
    cv = accuracy.posed_figures(probs, ev, frozenset(), rec, True)
    assert cv["crossval"] and cv["accuracy"] == 1.0 and cv["people"] == 12
    assert posed_cell({"posed_heldout": cv}).endswith(", 12 people, cross-validated")


def test_crop_rule_measures_a_folder_of_crops_and_says_when_it_finds_no_face(tmp_path, capsys, blazeface):
    """``--faces``: where the runtime's crop would sit on a folder of crops (the sample photo's face cut as
    FER-2013 is: the crop rule's own box, so its scale is the rule's); crops without a face: exit 2, one line."""
    from benchmarks import crop_rule
    from runtime.cli import SAMPLE
    from runtime.contract import CropRule
    from runtime.detect import load_detector
    from runtime.preprocess import crop_box

    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))
    box = load_detector("short").detect(rgb)[0].box
    left, top, w, h = crop_box(box, CropRule(), rgb.shape[1], rgb.shape[0])
    face = Image.fromarray(rgb).convert("L").crop((left, top, left + w, top + h)).resize((48, 48))
    for label, img in (("happy", face), ("sad", face.transpose(Image.FLIP_LEFT_RIGHT))):   # a folder has 2 labels
        (tmp_path / "faces" / label).mkdir(parents=True)
        img.save(tmp_path / "faces" / label / "a.png")
    out = tmp_path / "rule.json"
    assert crop_rule.main(["--faces", str(tmp_path / "faces"), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["images"] == r["one_face_found"] == 2 and abs(r["scale"]["median"] - CropRule().scale) < 0.1
    assert crop_rule.main(["--faces", str(tmp_path / "faces"), "--detector", "full", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["full_to_short_box"]["both_found_one_face"] == 2
    rng = np.random.default_rng(0)
    for label in ("happy", "sad"):
        (tmp_path / "noise" / label).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(tmp_path / "noise" / label / "b.png")
    capsys.readouterr()
    assert crop_rule.main(["--faces", str(tmp_path / "noise")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert crop_rule.main(["--faces", str(tmp_path / "nowhere")]) == 2
