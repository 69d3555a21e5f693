"""Small sets that only help (#38): warm start by label name, the recipe and epoch count chosen by
cross-validation, the verdict, and keeping the starting model when fine-tuning does not beat it.

The sets: FER-2013 Training crops regrouped by a fake person id (3 people x 7 labels x 5 crops), and three
labels of which two are new.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.own_data import make_folder
from runtime.contract import LABELS

from .conftest import REPO

SAME = {x: x for x in LABELS}
GROUP = "^(P[0-9]+)_"


def _train(*args, timeout=1200):
    return subprocess.run([sys.executable, "-m", "train", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


# -- the parts -------------------------------------------------------------------------------------------------


def test_labels_are_matched_by_name_case_and_blanks_aside():
    from train.warm_start import matches

    assert matches(("Happy", "contempt", " sad "), LABELS) == {0: 3, 2: 4}
    assert matches(("a", "b"), None) == {}


def test_folds_keep_each_person_in_one_fold_and_every_face_once():
    from train.cross_val import folds
    from train.user_folder import FolderData

    names = np.array([f"{lab}/P{p}_{lab}_{i}.png" for p in range(4) for lab in ("a", "b") for i in range(3 + p)])
    labels = np.array([0 if n.startswith("a/") else 1 for n in names])
    data = FolderData(np.zeros((len(names), 48, 48), np.uint8), labels, names, ("a", "b"))
    parts = folds(data, 3, 0, GROUP)
    assert len(parts) == 3 and sorted(np.concatenate(parts).tolist()) == list(range(len(names)))
    people = [{n.split("/")[1].split("_")[0] for n in names[p]} for p in parts]
    assert all(not (a & b) for i, a in enumerate(people) for b in people[i + 1:])
    by_image = folds(data, 5, 0, None)
    assert len(by_image) == 5 and all(len(set(labels[p])) == 2 for p in by_image)   # stratified


def test_the_candidate_recipes_follow_the_size_of_the_set_and_leave_the_users_settings():
    from train import config
    from train.own_run import candidates, cross_validates, recipe_config

    cfg = config.load_preset("own")
    assert candidates(cfg, 150) == ["top", "all_slow"]
    assert candidates(cfg, 800) == ["top", "all_slow", "all", "all_light"]
    assert candidates(cfg, 20000) == ["all"]
    cfg.strategy = "multiworker"
    assert candidates(cfg, 150) == ["top"] and not cross_validates(cfg, {"val": 10})
    cfg = config.load_preset("own")
    assert cross_validates(cfg, {"val": 30}) and not cross_validates(cfg, {"val": 80})
    assert cross_validates(cfg, {"val": 80, "groups": {"val": 2}})
    top = recipe_config(cfg, "top")
    assert top.trainable_from == 13 and top.lr == 1e-4 and top.epochs == 10 and top.freeze_bn
    cfg.lr, cfg.epochs, cfg.user_set = 5e-5, 4, "epochs,lr"
    mine = recipe_config(cfg, "top")
    assert mine.lr == 5e-5 and mine.epochs == 4 and mine.trainable_from == 13


def test_the_choice_prefers_fewer_epochs_then_the_earlier_recipe():
    from train.cross_val import choose

    table = {"top": [0.5, 0.7, 0.7], "all_slow": [0.5, 0.6, 0.7]}
    assert choose(table, ["top", "all_slow"]) == ("top", 1)
    assert choose({"top": [0.6, 0.5], "all_slow": [0.6, 0.6]}, ["top", "all_slow"]) == ("top", 0)


def test_the_verdict_counts_a_difference_only_beyond_chance():
    from train.metrics import paired_sign_p, wilson
    from train.user_folder_report import compare

    lo, hi = wilson(40, 50)
    assert lo < 0.8 < hi and 0.65 < lo and hi < 0.9
    y = np.zeros(100, np.int64)
    good, bad = np.eye(2)[np.zeros(100, int)], np.eye(2)[np.ones(100, int)]
    half = np.concatenate([good[:50], bad[50:]])
    assert paired_sign_p(np.ones(10, bool), np.ones(10, bool)) == 1.0
    c = compare(("a", "b"), y, good, half, ["a", "b"], "fine-tuned model")
    assert c["verdict"] == "better" and c["difference_points"] == 50.0 and c["sign_test_p"] < 1e-6
    assert compare(("a", "b"), y, half, good, ["a", "b"], "fine-tuned model")["verdict"] == "worse"
    nearly = np.concatenate([good[:52], bad[52:]])
    assert compare(("a", "b"), y, nearly, half, ["a", "b"], "fine-tuned model")["verdict"] == "no better"
    assert compare(("a", "b"), y, good, half, [], "fine-tuned model")["verdict"] == "no comparison"


@pytest.mark.slow
def test_a_users_head_starts_from_the_bundled_rows_of_the_labels_it_knows():
    from train import config, loop
    from train.saved import load_keras_model

    cfg = config.load_preset("own")
    cfg.labels = "sad,contempt,happy"
    warm = {}
    model = loop.build_initialized(cfg, warm)
    assert warm == {"known": ["sad", "happy"], "new": ["contempt"]}
    k, b = model.get_layer("predictions").get_weights()
    rk, rb = load_keras_model(loop.resolve_init("release")).get_layer("predictions").get_weights()
    assert np.array_equal(k[:, 0], rk[:, LABELS.index("sad")]) and b[0] == rb[LABELS.index("sad")]
    assert np.array_equal(k[:, 2], rk[:, LABELS.index("happy")]) and b[2] == rb[LABELS.index("happy")]
    assert b[1] == 0.0


# -- end to end ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """3 people x 7 labels x 5 crops (the bundled model's labels), cross-validated in 3 folds, 2 epochs."""
    from .conftest import real_data_path

    fer = real_data_path()
    if fer is None:
        pytest.skip("FER-2013 not found (its crops make the set)")
    tmp = tmp_path_factory.mktemp("small")
    data = make_folder(fer, tmp / "faces", per_label=15, mapping=SAME, people=3, start=100)
    run = tmp / "run"
    r = _train("--data", data, "--no-detect", "--group", GROUP, "--out", run, "--epochs", "2", "--set", "folds=3")
    assert r.returncode == 0, r.stderr[-3000:]
    return {"data": data, "run": run, "log": r.stdout + r.stderr, "tmp": tmp}


@pytest.mark.data
@pytest.mark.slow
def test_a_small_set_is_cross_validated_and_never_below_its_start(small_run):
    run = small_run["run"]
    split = json.loads((run / "split.json").read_text())
    assert split["how"] == "cross_validation" and split["folds"] == 3 and split["val"] == 105
    folds = {}
    for name, _, fold in split["fold_of_file"]:
        folds.setdefault(name.split("/")[1].split("_")[0], set()).add(fold)
    assert len(folds) == 3 and all(len(f) == 1 for f in folds.values())      # one person, one fold
    choice = json.loads((run / "choice.json").read_text())
    assert set(choice["candidates"]) == {"top", "all_slow"}
    table = {n: c["by_epoch"] for n, c in choice["candidates"].items()}
    assert all(len(v) == 3 for v in table.values())
    assert table[choice["chosen"]][choice["epochs"]] == max(max(v) for v in table.values())
    rep = json.loads((run / "report.json").read_text())
    c = rep["comparison"]
    assert c["n"] == 105 and c["shared_labels"] == sorted(LABELS)
    assert c["finetuned"]["accuracy"] >= c["start"]["accuracy"]        # at least its starting accuracy
    assert c["verdict"] in ("better", "no better") and 0.0 <= c["sign_test_p"] <= 1.0
    assert rep["validation"]["accuracy"] == c["finetuned"]["accuracy"]
    md = (run / "report.md").read_text()
    assert f"**Verdict: {c['verdict']}.**" in md and "95% interval" in md and "cross-validated in 3 folds" in md
    assert "chosen: recipe" in (run / "train.log").read_text()


@pytest.mark.data
@pytest.mark.slow
def test_a_run_that_cannot_beat_its_start_keeps_it_and_converts(small_run):
    """A recipe that wrecks the model (a huge learning rate): the folds choose epoch 0, and the run keeps the
    starting model, whose head is the bundled model's own."""
    from train import loop
    from train.saved import load_keras_model

    run = small_run["tmp"] / "wrecked"
    r = _train("--data", small_run["data"], "--no-detect", "--group", GROUP, "--out", run, "--epochs", "1",
               "--set", "folds=2", "--set", "own_recipe=all", "--set", "lr=3.0", "--set", "optimizer=sgd")
    assert r.returncode == 0, r.stderr[-3000:]
    choice = json.loads((run / "choice.json").read_text())
    assert choice["epochs"] == 0 and choice["kept"] == "starting model"
    c = json.loads((run / "report.json").read_text())["comparison"]
    assert c["kept"] == "starting model" and c["verdict"] == "no better"
    assert "**Kept: the starting model.**" in (run / "report.md").read_text()
    kept = load_keras_model(run / "best.keras").get_layer("predictions").get_weights()
    start = load_keras_model(loop.resolve_init("release")).get_layer("predictions").get_weights()
    rows = [LABELS.index(x) for x in sorted(LABELS)]         # the folder's labels are sorted by name
    assert np.array_equal(kept[0], start[0][:, rows]) and np.array_equal(kept[1], start[1][rows])
    c = subprocess.run([sys.executable, "-m", "convert.quantize", str(run / "best.keras"), "--calibration",
                        str(small_run["data"]), "--no-detect", "--out", str(run / "m.tflite")],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    assert c.returncode == 0, c.stderr[-3000:]
    assert "held-out predictions" in c.stdout + c.stderr


@pytest.mark.data
@pytest.mark.slow
def test_new_labels_start_fresh_and_qat_trains_on_the_users_folder(tmp_path):
    """Three labels, two of them new to the bundled model; QAT after training runs on the same folder
    with its three labels (issue #38, 5)."""
    from train.saved import load_keras_model

    from .conftest import real_data_path

    fer = real_data_path()
    if fer is None:
        pytest.skip("FER-2013 not found")
    data = make_folder(fer, tmp_path / "faces", per_label=12, mapping={"calm": "neutral", "gasp": "surprise",
                                                                       "happy": "happy"}, people=3)
    run = tmp_path / "run"
    r = _train("--data", data, "--no-detect", "--out", run, "--epochs", "1", "--set", "folds=2",
               "--set", "own_recipe=top", "--set", "head_epochs=1", "--set", "qat_epochs=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "qat epoch 1/1" in r.stdout
    assert load_keras_model(run / "qat.h5").outputs[0].shape[-1] == 3
    c = json.loads((run / "report.json").read_text())["comparison"]
    assert c["shared_labels"] == ["happy"] and c["n"] == 12
