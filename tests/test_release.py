"""The committed release model: contract, metadata, and its reported accuracy reproduced."""

import json
import pathlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.contract import LABELS
from train.paths import record_dir

from .conftest import REPO

MODELS = REPO / "models"
INT8 = MODELS / "fer_mobilenetv2_int8.tflite"


def test_bundled_model_is_the_release_model():
    from runtime.classifier import BUNDLED_MODEL, MICRO_MODEL

    assert BUNDLED_MODEL.resolve() == INT8.resolve()
    assert INT8.stat().st_size <= 3_000_000
    assert MICRO_MODEL.resolve() == (MODELS / "micro" / INT8.name).resolve()
    # the retired fast tier keeps its record and card, not its weights
    assert (MODELS / "records" / "fast" / "MODEL_CARD.md").is_file() and not list((MODELS / "records" / "fast").glob("*.tflite"))


def test_release_model_contract_and_metadata():
    from runtime.metadata import inspect_file

    info = inspect_file(INT8)
    i, o = info.inputs[0], info.outputs[0]
    assert (i.shape, i.dtype, i.scale, i.zero_point) == ((1, 48, 48, 1), "uint8", 1.0, 0)
    assert o.shape == (1, 7)
    assert info.contract.labels == LABELS and info.has_metadata
    assert info.extra["accuracy_gate"] == "passed"
    assert "PrivateTest" in info.extra["accuracy"]


@pytest.mark.data
@pytest.mark.parametrize("folder", [MODELS, MODELS / "micro"], ids=["release", "micro"])
def test_release_int8_accuracy_matches_the_model_card(fer_root, folder):
    """The runtime reproduces the int8 figures written in models/records/release (and models/records/micro)."""
    from convert.release.routes import evaluate_tflite
    from train import fer2013

    got = evaluate_tflite(folder / INT8.name, fer2013.load(fer_root))
    card = json.loads((record_dir(folder) / "int8_eval.json").read_text())
    for split in ("PrivateTest", "PublicTest", "PrivateTest_clean"):
        assert got[split]["accuracy"] == pytest.approx(card[split]["accuracy"], abs=1e-9)


@pytest.mark.data
@pytest.mark.slow
def test_quantize_rebuilds_the_release_int8(fer_root, tmp_path):
    """`python -m convert.quantize --out X`, no model named, rebuilds the release int8 by the
    route the release chose (its source and calibration size) within half a point."""
    out = tmp_path / "rebuilt.tflite"
    source = MODELS / pathlib.Path(json.loads((MODELS / "records" / "release" / "quantize.json").read_text())["source"]).name
    assert source.is_file(), f"{source} is not committed"
    r = subprocess.run([sys.executable, "-m", "convert.quantize", "--out", str(out), "--data", str(fer_root)],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.stat().st_size <= 3_000_000
    from convert.release.routes import evaluate_tflite
    from train import fer2013

    data = fer2013.load(fer_root)
    new = evaluate_tflite(out, data)["PrivateTest"]["accuracy"]
    card = json.loads((MODELS / "records" / "release" / "int8_eval.json").read_text())["PrivateTest"]["accuracy"]
    # Calibration runs the float model on the CPU at hand, and float rounding differs between CPUs: with the
    # same TensorFlow 2.21 and the same 300 calibration faces (same sha256), the route gave 70.05% on the AMD
    # EPYC that built the release and 69.63% on an Intel Xeon with AVX-512 (2026-12-05). Hence half a point.
    assert abs(new - card) <= 0.005


def test_readme_results_are_generated_from_the_result_files():
    from benchmarks.readme import main

    assert main(["--check"]) == 0


def test_training_command_is_rebuilt_from_the_resolved_config():
    from train import config
    from train.config import command as train_command

    cfg = config.load_preset("release").to_dict()
    assert train_command(dict(cfg, data="/d", out="/o")) == "python -m train --preset release"
    cfg.update(init="/tmp/x.keras", lr=0.0003, qat_epochs=2)
    assert train_command(cfg, init_as="runs/stage1/model.keras") == (
        "python -m train --preset release --init runs/stage1/model.keras --set lr=0.0003 --set qat_epochs=2")
    # A run that started from the release of its day through the preset's own path (distill's
    # models/fer_mobilenetv2.keras) names the run it started from: that path holds another model now.
    distill = config.load_preset("distill").to_dict()
    assert train_command(distill, init_as="runs/release_run/model.keras") == (
        "python -m train.recipes --preset distill --init runs/release_run/model.keras")
    assert train_command(distill) == "python -m train.recipes --preset distill"


def test_a_second_cycle_keeps_the_first_release_as_stage1(tmp_path):
    """Releasing a run that started from the released model moves that
    release's record and card to release/stage1/ with its checksum."""
    from convert.release.history import FLOAT, keep_stage
    from train import config

    out = tmp_path / "models"
    (out / "release").mkdir(parents=True)
    (out / FLOAT).write_bytes(b"stage one weights")
    (out / "MODEL_CARD.md").write_text("card 1")
    (out / "release" / "report.json").write_text("{}")
    stage1_cfg = config.load_preset("release")
    stage1_cfg.qat_epochs = 2
    config.save(stage1_cfg, out / "release" / "config.yaml")
    init = tmp_path / "copy.keras"
    init.write_bytes(b"stage one weights")
    st = keep_stage(out, {"init": str(init)}, log=lambda m: None)
    stage = out / "release" / "stage1"
    assert st["stage1"]["command"] == "python -m train --preset release --set qat_epochs=2"
    assert (stage / "MODEL_CARD.md").read_text() == "card 1" and (stage / "report.json").is_file()
    assert not (out / "release" / "report.json").exists()
    assert keep_stage(out, {"init": "torchvision"}) is None
    # a third cycle: the second release moves to stage2, stage1 stays where its card points
    (out / "release" / "report.json").write_text('{"second": 1}')
    (out / "MODEL_CARD.md").write_text("card 2")
    st = keep_stage(out, {"init": str(init)}, log=lambda m: None)
    assert st["stage1"]["folder"] == "stage2" and (out / "release" / "stage2" / "MODEL_CARD.md").read_text() == "card 2"
    assert (stage / "MODEL_CARD.md").read_text() == "card 1"
    init.write_bytes(b"other")
    (out / "release" / "report.json").write_text('{"third": 1}')
    assert keep_stage(out, {"init": str(init)})["stage1"] is None
    assert not (out / "release" / "stage3").exists()          # another init, no new model named: nothing moves
    # A new model that did not start from the release (a soup of other runs) still keeps the release it replaces.
    new = tmp_path / "soup.keras"
    new.write_bytes(b"soup weights")
    st = keep_stage(out, {"init": str(init)}, new, log=lambda m: None)
    assert st["stage1"] is None and st["replaced"]["folder"] == "stage3"
    assert json.loads((out / "release" / "stage3" / "report.json").read_text()) == {"third": 1}
    # The same model released again (a conversion redone) moves nothing.
    (out / "release" / "report.json").write_text("{}")
    assert keep_stage(out, {"init": str(init)}, out / FLOAT) is None and not (out / "release" / "stage4").exists()
    # A released soup is kept with its soup command, not its last run's train command (its config.yaml).
    (out / "release" / "soup.json").write_text('{"command": "python -m train.recipes.soup --runs a b --out runs/s"}')
    st = keep_stage(out, {"init": str(init)}, new, log=lambda m: None)
    assert st["replaced"] == dict(st["replaced"], folder="stage4", soup=True,
                                  command="python -m train.recipes.soup --runs a b --out runs/s")
    assert "prior" not in st["replaced"]
    # A release whose head train.recipes.prior corrected keeps that command beside the soup's.
    (out / "release" / "report.json").write_text("{}")
    (out / "release" / "soup.json").write_text('{"command": "python -m train.recipes.soup --runs a b --out runs/s"}')
    (out / "release" / "prior.json").write_text('{"command": "python -m train.recipes.prior --run runs/s --out runs/p"}')
    (out / FLOAT).write_bytes(b"corrected soup weights")
    st = keep_stage(out, {"init": str(init)}, new, log=lambda m: None)
    assert st["replaced"]["folder"] == "stage5" and st["replaced"]["prior"] == (
        "python -m train.recipes.prior --run runs/s --out runs/p")


def test_release_meets_the_real_face_targets_on_its_record():
    """Issue #36: the shipped int8 model, one pass (models/records/release/real_faces.json, written by
    python -m convert.release), on the sets it was chosen on: wild-dev >= 82% with neutral recall >= 78%, the
    FER+ majority >= 82%, each FER+ recall at least its floor (train.recipes.choose.RECALL_FLOORS); reported:
    FER-2013 PrivateTest >= 66% (above the PyPI fer package's 65.87%). FER+ majority on PrivateTest, where the
    issue asks 82%, was 81.88% at release: the test keeps it from falling further (80%)."""
    from train.recipes.choose import RECALL_FLOORS

    rec = REPO / "models" / "records" / "release"
    real = json.loads((rec / "real_faces.json").read_text())["int8"]
    assert real["wild_dev"]["accuracy"] >= 0.82 and real["wild_dev"]["recall"]["neutral"] >= 0.78
    assert real["PublicTest_FERplus"]["accuracy"] >= 0.82
    for label, floor in RECALL_FLOORS.items():
        assert real["PublicTest_FERplus"]["recall"][label] >= floor, label
    assert json.loads((rec / "int8_eval.json").read_text())["PrivateTest"]["accuracy"] >= 0.66
    assert real["PrivateTest_FERplus"]["accuracy"] >= 0.80


def test_card_of_a_soup_names_every_run_and_rebuilds_their_commands():
    """A released weight average lists its runs with their records and gives
    the commands that remake it, the second run starting from the first."""
    from convert.release.card import card
    from train import config

    res = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
           "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in LABELS}}
    splits = {s: res for s in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
    first = config.load_preset("release").to_dict()
    second = dict(first, init="/somewhere/copy.keras", lr=0.0003, qat_epochs=2)
    soup = {"ingredients": [
        {"run": "/r/stage1", "started_from": None, "config": first, "PublicTest_accuracy": 0.6734},
        {"run": "/r/cycle2", "started_from": "stage1", "config": second, "PublicTest_accuracy": 0.6737}],
        "batchnorm": {"images": 19200}, "PublicTest_accuracy": {"soup": 0.6799, "best_ingredient": 0.6737}}
    report = {"config": dict(second, out="/r/soup"), "soup": soup, "data_checksum_sha256": "abc",
              "train_minutes": 200.0, "hardware": "x86_64 (2 cores)", "best_epoch": None, "epochs_trained": 20}
    qrep = {"gate": {"top1_agreement": 0.95, "drop_points": 0.1, "max_drop_points": 1.0},
            "calibration": {"samples": 300, "seed": 0, "sha256": "def"}}
    text = card(report, splits, splits, qrep, "python -m convert.release --run runs/soup", 2_000_000,
                records={"stage1": "records/release/stage1/", "cycle2": "candidates/cycle2/"})
    assert "`stage1` (from `torchvision`, PublicTest 67.34%, record `records/release/stage1/`)" in text
    assert "`cycle2` (from `stage1`, PublicTest 67.37%, record `candidates/cycle2/`)" in text
    assert "(67.99% against 67.37%)" in text
    assert ("python -m train --preset release --init runs/stage1/model.keras --set lr=0.0003 --set qat_epochs=2 "
            "--data PATH --out runs/cycle2\n") in text
    assert "python -m train.recipes.soup --runs runs/stage1 runs/cycle2 --out runs/soup --data PATH --qat-epochs 2\n" in text
    assert "best epoch None" not in text
    assert "lost to post-training int8 on PublicTest" in text and "converted from it" not in text
    shipped_qat = card(report, splits, splits, dict(qrep, source="models/fer_mobilenetv2_qat.h5"), "cmd", 2_000_000,
                       records={})
    assert "the int8 model is converted from it (`qat.h5`)" in shipped_qat

    # A greedy soup: the run left out is named, its command kept (the others may start from it).
    third = dict(second, seed=9)
    soup["ingredients"].append({"run": "/r/cycle3", "started_from": "stage1", "config": third,
                                "PublicTest_accuracy": 0.6600, "kept": False})
    soup["greedy"] = [{"run": "cycle2", "PublicTest_accuracy": 0.6737, "kept": True},
                      {"run": "stage1", "PublicTest_accuracy": 0.6799, "kept": True},
                      {"run": "cycle3", "PublicTest_accuracy": 0.6701, "kept": False}]
    text = card(report, splits, splits, qrep, "python -m convert.release --run runs/soup", 2_000_000,
                records={"stage1": "records/release/stage1/", "cycle2": "candidates/cycle2/"})
    assert "the average of 2 training runs" in text and "`cycle3` 67.01% left out" in text
    assert "Left out: `cycle3` (from `stage1`, PublicTest 66.00%, record `not kept`)" in text
    assert ("python -m train.recipes.soup --runs runs/stage1 runs/cycle2 runs/cycle3 --out runs/soup --data PATH --greedy "
            "--qat-epochs 2\n") in text
    assert "--set seed=9 --set qat_epochs=2 --data PATH --out runs/cycle3" in text

    # An earlier release that is itself a soup is known by its inference model's checksum.
    from convert.release.history import released_stages

    stage_sha, stage = next(iter(released_stages().items()))
    soup["ingredients"].insert(0, {"run": "/r/old_soup", "sha256": "not-a-release", "model_sha256": stage_sha,
                                   "soup": True, "started_from": None, "config": first, "PublicTest_accuracy": 0.68})
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, records={})
    assert f"`old_soup` (the model released before, sha256 `not-a-releas`, PublicTest 68.00%, " \
           f"record `records/release/{stage}/`)" in text
    assert f"(runs/old_soup: the release of records/release/{stage}/, rebuilt by its card's commands" in text

    # The release of now, as a run of a candidate's soup, is named by its own record.
    from train.io import file_sha256

    soup["ingredients"][0]["model_sha256"] = file_sha256(MODELS / "fer_mobilenetv2.keras")
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, records={})
    assert "`old_soup` (the model released now, sha256 `not-a-releas`, PublicTest 68.00%, record `records/release/`)" in text
    assert "(runs/old_soup: the release of records/release/, rebuilt by its card's commands" in text

    # An earlier soup that was not released is named by the record its soup command finds.
    soup["ingredients"][0].update(model_sha256="not-a-release-either", command="python -m train.recipes.soup --runs a b")
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, records={"old_soup": "candidates/old_soup/"})
    assert "`old_soup` (an earlier soup, PublicTest 68.00%, record `candidates/old_soup/`)" in text
    assert "(runs/old_soup: the soup recorded in candidates/old_soup/, remade by its soup.json's command" in text
    assert "--out runs/old_soup" not in text

    # A greedy soup that kept one run says so, and does not claim to beat it.
    for i in soup["ingredients"]:
        i["kept"] = i["run"] == "/r/cycle2"
    soup["PublicTest_accuracy"] = {"soup": 0.6737, "best_ingredient": 0.6737}
    text = card(dict(report, config=dict(report["config"], qat_epochs=1)), splits, splits, qrep, "cmd", 2_000_000,
                records={})
    assert "one training run's best checkpoint (the soup kept no other run)" in text and "Run: `cycle2`" in text
    assert "the soup does not beat its best run there\n  (67.37% against 67.37%)" in text
    assert "beats every run" not in text and "1 epoch from the" in text

    # Averaged BatchNorm statistics that beat the measured ones are what the card names.
    for i in soup["ingredients"]:
        i["kept"] = True
    soup["batchnorm"] = {"images": 19200, "statistics": "averaged",
                         "PublicTest_accuracy": {"averaged": 0.6882, "recalibrated": 0.6812}}
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, records={})
    assert ("BatchNorm statistics averaged with the weights (measured again on 19200 Training images they scored "
            "68.12% on PublicTest, against 68.82%)") in text


def test_card_of_a_cycle_from_a_released_soup_points_to_its_record():
    """A run trained from a released soup cannot remake that soup with a
    train command: the card's commands point to the soup's stage record."""
    from convert.release.card import card
    from train import config

    res = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
           "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in LABELS}}
    splits = {s: res for s in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
    cfg = dict(config.load_preset("distill").to_dict(), init="/r/soup/best.keras")
    report = {"config": cfg, "data_checksum_sha256": "abc", "train_minutes": 20.0, "hardware": "x86_64 (2 cores)",
              "best_epoch": 5, "epochs_trained": 6}
    qrep = {"gate": {}, "calibration": {"samples": 300, "seed": 0, "sha256": "def"}}
    stage = {"stage1": {"folder": "stage4", "sha256": "f" * 64, "git_commit": "a" * 40, "soup": True,
                        "command": "python -m train.recipes.soup --runs a b --out /r/soup"}}
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, stage=stage)
    assert "# runs/stage1: the soup released in records/release/stage4/, remade by its card's commands" in text
    assert "--out /r/soup --data PATH" not in text and "--init runs/stage1/model.keras" in text


def test_int8_route_is_chosen_on_the_choosing_sets_when_they_were_measured():
    """With real faces measured (issue #36), the mean of PublicTest (FER-2013 labels and FER+ majority) and
    wild-dev decides, never PrivateTest; the route table shows that mean."""
    from convert.release.routes import CHOOSING, choose_route, route_score, route_table

    def cand(pub, fp, wild, priv=0.7):
        res = {s: {"accuracy": a} for s, a in (("PublicTest", pub), ("PrivateTest", priv), ("PrivateTest_clean", priv))}
        real = {"PublicTest": {"accuracy": pub}, "PublicTest_FERplus": {"accuracy": fp}, "wild_dev": {"accuracy": wild},
                "PrivateTest_FERplus": {"accuracy": priv}}
        return {"route": "ptq", "source": "m", "samples": 300, "int8": res, "real_faces": real}

    cands = [cand(0.66, 0.83, 0.82, priv=0.9), cand(0.65, 0.84, 0.84, priv=0.5)]
    assert route_score(cands[1]) == pytest.approx((0.65 + 0.84 + 0.84) / len(CHOOSING))
    assert choose_route(cands) == 1               # a point less on FER-2013 PublicTest, three more on real faces
    assert "| 77.67% | **shipped** |" in route_table(cands, 1)


def test_int8_route_is_chosen_on_publictest_only():
    from convert.release.routes import choose_route, route_table

    def cand(route, pub, priv):
        res = {s: {"accuracy": a} for s, a in (("PublicTest", pub), ("PrivateTest", priv), ("PrivateTest_clean", priv))}
        return {"route": route, "source": "m", "samples": 300, "int8": res}

    cands = [cand("ptq", 0.680, 0.700), cand("qat", 0.681, 0.650), {"route": "ptq", "source": "m", "samples": 1000,
                                                                   "error": "gate failed"}]
    assert choose_route(cands) == 1                       # PublicTest decides, though PrivateTest says otherwise
    assert choose_route([cand("a", 0.68, 0.6), cand("b", 0.68, 0.7)]) == 0     # a tie keeps the earlier route
    assert "**shipped**" in route_table(cands, 1).splitlines()[3] and "failed" in route_table(cands, 1)
    with pytest.raises(ValueError):
        choose_route(cands[2:])


def test_shipped_route_is_what_convert_quantize_rebuilds():
    import json

    from convert.quantize import REPO, shipped_route

    rep = json.loads((REPO / "models" / "fer_mobilenetv2_int8.tflite.json").read_text())
    src, n, seed = shipped_route()
    assert src.is_file() and n == rep["calibration"]["samples"] and seed == rep["calibration"]["seed"]
    routes = json.loads((REPO / "models" / "records" / "release" / "routes.json").read_text())
    chosen = routes["routes"][routes["chosen"]]
    assert routes["chosen_on"] in ("PublicTest", "mean of PublicTest, PublicTest_FERplus, wild_dev")
    assert chosen["samples"] == n and src == REPO / chosen["source"]
    assert chosen.get("seed", 0) == seed


def test_records_of_finds_a_soup_by_its_command_and_a_run_by_its_config(tmp_path):
    """A soup's config.yaml is its last run's: the soup is found by the
    command in its soup.json, and the run by its config, never the other way."""
    import shutil

    from convert.release.history import records_of
    from train import config

    run_cfg = config.load_preset("distill").to_dict()
    for name in ("soup_a", "run_b"):
        (tmp_path / "candidates" / name).mkdir(parents=True)
        shutil.copy2(REPO / "train" / "presets" / "distill.yaml", tmp_path / "candidates" / name / "config.yaml")
    (tmp_path / "candidates" / "soup_a" / "soup.json").write_text(json.dumps({"command": "python -m train.recipes.soup A"}))
    soup = {"ingredients": [
        {"run": "/r/old", "soup": True, "command": "python -m train.recipes.soup A", "config": run_cfg},
        {"run": "/r/other", "soup": True, "command": "python -m train.recipes.soup B", "config": run_cfg},
        {"run": "/r/b", "config": run_cfg}]}
    assert records_of(tmp_path, soup) == {"old": "candidates/soup_a/", "b": "candidates/run_b/"}


def test_the_release_card_finds_the_records_of_its_runs():
    """Every run of the release's blend has its record in candidates/; and every run of the soup released
    before it (release/stage6/) has its record: the trained runs by their config (not a soup's folder, whose
    config.yaml is its last run's), the soup released before that by its soup command and its inference
    model's checksum (release/stage4/)."""
    from convert.release.history import records_of, released_stages
    from train import config

    blend = json.loads((MODELS / "records" / "release" / "blend.json").read_text())
    for i in blend["ingredients"]:
        rec = MODELS / "records" / "candidates" / Path(i["run"]).name / "config.yaml"
        assert config.load_preset(str(rec)).to_dict() | {"data": "", "out": ""} == \
            config.from_dict(i["config"]).to_dict() | {"data": "", "out": ""}, rec
    report = json.loads((MODELS / "records" / "release" / "stage6" / "report.json").read_text())
    found = records_of(MODELS, report["soup"])
    assert found == {"soup5g": "records/release/stage4/", "g2_control_s7": "records/candidates/g2_control_s7/",
                     "g2_distill_s8": "records/candidates/g2_distill_s8/",
                     "g2_control_s9": "records/candidates/g2_control_s9/",
                     "g2_distill_s10": "records/candidates/g2_distill_s10/"}
    earlier = [i for i in report["soup"]["ingredients"] if i.get("soup")]
    stages = released_stages()
    assert [stages.get(i["sha256"]) or stages.get(i["model_sha256"]) for i in earlier] == ["stage4"]
    card = (MODELS / "records" / "release" / "stage6" / "MODEL_CARD.md").read_text()
    assert "record `not kept`" not in card and "record `records/release/stage4/`" in card


def test_frontier_table_lists_every_point(tmp_path):
    """models/records/frontier/README.md is generated from each point.json, kept or not."""
    import json

    from convert.release.frontier import table

    for name, status, arena in (("a", "shipped as micro", 90_000), ("b", "stopped: too large", None)):
        measured = {"int8": {"PublicTest": 0.6, "PrivateTest": 0.61, "PrivateTest_clean": 0.59}, "bytes": 250_000,
                    "macs": 4_000_000, "latency_1thread": {"ratio": 0.12}}
        if arena:
            measured["tflm_arena"] = arena
        (tmp_path / name).mkdir()
        (tmp_path / name / "point.json").write_text(json.dumps({
            "config": {"image_size": 48, "alpha": 0.5, "blocks": 12, "head_channels": 192, "epochs": 90},
            "epochs_trained": 90, "status": status, "measured": measured}))
    text = table(tmp_path)
    assert "| `a` | 48 | 0.5 | 12 | 192 | 90/90 | 60.00% | 61.00% | 59.00% | 244 KiB | 4.0 M | 0.12x | 87.9 KiB " \
           "| shipped as micro |" in text
    assert "| `b` |" in text and "| stopped: too large |" in text


def test_card_of_a_blend_names_its_runs_base_prior_and_every_command():
    """A blend of FER+ runs with the release they started from (issue #36): the card gives the runs, the base's
    share, both priors (float, then int8) with their figures on the choosing sets, and the commands in order."""
    from convert.release.card import card
    from convert.release.history import released_stages
    from train import config

    res = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
           "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in LABELS}}
    splits = {s: res for s in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
    stage_sha, stage = next(iter(released_stages().items()))
    cfg = dict(config.load_preset("ferplus_soft").to_dict(), ferplus_weight=1.0, seed=21)
    fig = {"wild_dev": {"accuracy": 0.8316, "recall": {"neutral": 0.817}}, "PublicTest_FERplus": {"accuracy": 0.8301},
           "PublicTest": {"accuracy": 0.6528}}
    blend = {"ingredients": [{"run": "/r/fp_a", "config": cfg, "init_sha256": stage_sha},
                             {"run": "/r/fp_b", "config": dict(cfg, seed=22), "init_sha256": stage_sha}],
             "base": "models/fer_mobilenetv2.keras", "base_sha256": stage_sha, "base_share": 0.2,
             "prior": {"goal": "fer2013", "offsets": [0.1, -0.5, 0, 0.3, 0.1, -0.2, 0.2],
                       "floors": {"wild_dev": 0.83}, "recall_floors": {"fear": 0.71}},
             "figures": {"blend_prior": fig},
             "int8_prior": {"route": ["ptq", 300, 0], "offsets": [0, 0.2, -0.1, 0, 0, -0.2, 0.1],
                            "figures": {"int8": fig, "int8_prior": fig}}}
    report = {"config": dict(cfg, out="/r/blend"), "blend": blend, "data_checksum_sha256": "abc",
              "train_minutes": 50.0, "hardware": "x86_64 (2 cores)", "best_epoch": None, "epochs_trained": 10}
    qrep = {"gate": {}, "calibration": {"samples": 300, "seed": 0, "sha256": "def"}}
    # the release it replaces is not the one its runs started from (the runs of 2026-12-08 started from stage7's)
    text = card(report, splits, splits, qrep, "cmd", 2_000_000, stage={"stage1": None, "replaced": {"folder": "stage99"}})
    assert "stage99" not in text and "every posed person, cross-validated" not in text
    assert f"the equal average of 2 runs (`fp_a`: the FER+ votes, `fp_b`: the FER+ votes), each fine-tuned from " \
           f"the model released before (record `records/release/{stage}/`), blended with that model at a share of 0.2" in text
    assert "wild-dev 83.16% (neutral recall 81.7%), FER+ majority 83.01%, FER-2013 65.28%" in text
    assert "fear 0.71" not in text and "fear 71%" in text and "disgust -0.50" in text
    assert "The prior fitted again on the int8 model's outputs" in text and "route ptq 300 0" in text
    steps = text.split("```sh\n")[1].split("```")[0].splitlines()
    assert steps[1] == f"# runs/stage1: the model the runs started from, remade by the card in records/release/{stage}/, as a run folder"
    assert "--init runs/stage1/model.keras" in steps[2] and steps[2].endswith("--out runs/fp_a")
    assert steps[4] == ("python -m train.recipes.blend --runs runs/fp_a runs/fp_b --base runs/stage1/model.keras "
                        "--base-share 0.2 --prior fer2013 --out runs/blend --data PATH")
    assert steps[5] == "python -m convert.release.int8_prior --run runs/blend --out runs/blend_int8 --data PATH"
    assert steps[6] == "python -m convert.release --run runs/blend_int8"
    # trained on every posed person: the base's share was also chosen on the cross-validated posed people
    report["blend"] = dict(blend, posed_held_out=[])
    assert "the base's share also on every posed person, cross-validated" in card(report, splits, splits, qrep, "cmd", 1)


def test_a_release_converted_again_names_the_stage_its_run_started_from(tmp_path):
    """Converting a release again moves nothing; its card's cycle comes from the init checksum of its record."""
    from convert.release.history import started_stage

    out, run = tmp_path / "models", tmp_path / "run"
    (out / "release" / "stage1").mkdir(parents=True)
    info = {"model": "m.keras", "sha256": "abc", "git_commit": "", "folder": "stage1", "command": "python -m train"}
    (out / "release" / "stage1" / "STAGE.json").write_text(json.dumps(info))
    run.mkdir()
    (run / "data.json").write_text('{"init_sha256": "abc"}')
    assert started_stage(out, run) == {"stage1": info}
    (run / "data.json").write_text('{"init_sha256": "other"}')
    assert started_stage(out, run) is None


def test_a_blends_runs_say_what_they_learned_from_and_name_the_committed_teacher():
    """Issue #44: a run of the release's blend is described by its targets (FER+ votes, FER-2013's labels, a
    teacher, the posed faces), and a teacher outside the repository is named by the committed record with the
    same sha256."""
    from convert.release.card import _targets_words, _teacher_in_repo

    cfg = {"ferplus_weight": 0.6, "distill_weight": 0.0, "posed": "default", "posed_folds": 4, "posed_fold": 0,
           "posed_repeat": 10}
    assert _targets_words(cfg) == ("0.6 the FER+ votes + 0.4 FER-2013's labels, with `posed/`'s people of 3 of 4 "
                                   "folds (fold 0 held out) 10 times")
    assert _targets_words(dict(cfg, posed_fold=-1)).endswith(", with every person of `posed/` 10 times")
    d = _teacher_in_repo({"teacher": "/elsewhere/teacher.npz", "distill_weight": 1.0}, "posed_d_s34")
    assert d["teacher"] == "models/records/teacher_release/teacher.npz"
    assert (REPO / d["teacher"]).is_file()
    assert _teacher_in_repo({"teacher": "/x/t.npz"}, "no_such_run")["teacher"] == "/x/t.npz"


def test_the_release_has_a_posed_figure_of_people_it_never_saw():
    """Issue #44: the release is measured on posed people only where it never trained on them. One trained on
    every posed person (its blend.json says no fold is held out) carries its recipe's cross-validated figure
    (posed_cv.json, python -m convert.release.crossval): every fold once, each read by a model that held it
    out, all the posed faces together. The release of then read 88.06% of 44 people; the test keeps it from
    falling under the release before's 87.41% of fold 0 by more than a sequence's worth."""
    from train.paths import POSED_CV_JSON, POSED_CV_NPZ
    from train.recipes import posed

    rec = REPO / "models" / "records" / "release"
    held = posed.record_held_out(rec)
    real = json.loads((rec / "real_faces.json").read_text())["int8"]
    if held:
        assert "posed_heldout" in real and real["posed_heldout"]["accuracy"] >= 0.86
        return
    assert "posed_heldout" not in real                   # no person it trained on is measured as held out
    cv = json.loads((rec / POSED_CV_JSON).read_text())
    assert sorted(cv["folds"]) == [str(k) for k in range(posed.FOLDS)]
    assert sum(f["faces"] for f in cv["folds"].values()) == cv["faces"] == cv["pooled"]["n"]
    people = [p for f in cv["folds"].values() for p in f["people"]]
    assert len(people) == len(set(people)) == cv["people"]
    assert all(posed.fold_of(p, posed.FOLDS) == int(k) for k, f in cv["folds"].items() for p in f["people"])
    assert cv["pooled"]["accuracy"] >= 0.86
    with np.load(rec / POSED_CV_NPZ) as z:
        assert len(z["names"]) == cv["faces"] and z["probs"].shape == (cv["faces"], len(z["label_names"]))
