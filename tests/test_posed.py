"""Posed lab faces in the lab's recipe (issue #44): folds by person, a person's sequences on one side, labels
the model lacks left out, the training rows a run adds and the held-out people it is chosen on."""

import json

import numpy as np
import pytest
from PIL import Image

from runtime.contract import LABELS
from runtime.errors import ConfigError, DataError
from train.config import TrainConfig
from train.data import TrainData
from train.paths import POSED_CV_NPZ
from train.recipes import posed
from train.recipes.soft_targets import with_posed


def _posed_folder(root, people=12, seed=0):
    """``posed/<label>/S###_seq_frame.png``: each person posing two or three labels, three frames a sequence."""
    rng = np.random.default_rng(seed)
    labels = ["angry", "disgust", "fear", "happy", "contempt"]
    for p in range(people):
        for s, label in enumerate(rng.choice(labels, size=3, replace=False)):
            d = root / label
            d.mkdir(parents=True, exist_ok=True)
            for f in range(3):
                Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(
                    d / f"S{100 + p:03d}_{s + 1:03d}_{f:08d}.png")
    return root


def test_folds_keep_each_person_and_sequence_on_one_side(tmp_path):
    root = _posed_folder(tmp_path / "posed")
    data = posed.load(root, LABELS)
    assert "contempt" in data.dropped and set(data.labels.tolist()) <= {LABELS.index(x) for x in LABELS}
    seen = set()
    for fold in range(4):
        train, held = posed.split(data, 4, fold)
        assert not set(train.persons) & set(held.persons)
        assert len(train.labels) + len(held.labels) == len(data.labels)
        seen |= set(held.persons)
    assert seen == set(data.persons)                 # every person is held out exactly once over the folds
    assert posed.fold_of("S005", 4) == posed.fold_of("S005", 4)
    every, none = posed.split(data, 4, -1)
    assert len(none.labels) == 0 and len(every.labels) == len(data.labels)
    with pytest.raises(ConfigError):
        posed.split(data, 4, 4)
    with pytest.raises(DataError):
        posed.load(tmp_path / "nowhere", LABELS)


def test_a_run_adds_the_training_people_repeated_with_one_hot_targets(tmp_path):
    root = _posed_folder(tmp_path / "posed")
    n = 20
    base = TrainData(np.zeros((n, 48, 48), np.uint8), np.zeros(n, np.int64), np.zeros((4, 48, 48), np.uint8),
                     np.zeros(4, np.int64), LABELS, "x", targets=np.full((n, 7), 1 / 7, np.float32))
    cfg = TrainConfig(posed=str(root), posed_repeat=3, posed_folds=4, posed_fold=1).validate()
    out = with_posed(cfg, base, tmp_path / "fer2013", log=lambda m: None)
    train, held = posed.split(posed.load(root, LABELS), 4, 1)
    assert len(out.train_images) == n + 3 * len(train.labels) and len(out.targets) == len(out.train_images)
    assert np.array_equal(out.targets[n:].argmax(1), out.train_labels[n:])
    assert np.array_equal(np.bincount(out.train_labels[n:], minlength=7), 3 * np.bincount(train.labels, minlength=7))
    assert np.allclose(out.targets[n:].sum(1), 1.0) and out.targets[n:].max() == 1.0
    rec = out.record["posed"]
    assert rec["held_out_people"] == sorted(set(held.persons)) and rec["train_faces"] == len(train.labels)
    with pytest.raises(ConfigError):
        TrainConfig(posed=str(root), posed_fold=7).validate()


def test_balance_repeats_rarer_posed_labels_more():
    labels = np.array([0] * 10 + [2] * 3 + [3] * 20)
    assert np.bincount(labels[posed.repeated_rows(labels, 10)]).tolist() == [100, 0, 30, 200]
    assert np.bincount(labels[posed.repeated_rows(labels, 10, 0.5)]).tolist() == [140, 0, 78, 200]
    with pytest.raises(ConfigError):
        TrainConfig(posed="x", posed_balance=2).validate()


def test_hiding_the_mouth_flattens_the_lower_face_of_a_seeded_share_and_nothing_else(tmp_path):
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 255, (400, 48, 48), dtype=np.uint8)
    out, hidden = posed.hide_mouth(faces, 0.5, seed=7)
    top = int(round(posed.MOUTH_LINE * 48))
    assert 150 < hidden.sum() < 250 and np.array_equal(hidden, posed.hide_mouth(faces, 0.5, seed=7)[1])
    assert np.array_equal(out[:, :top], faces[:, :top]) and np.array_equal(out[~hidden], faces[~hidden])
    lower = out[hidden, top:].reshape(int(hidden.sum()), -1)
    assert (lower == lower[:, :1]).all()                                    # one flat value a hidden face
    assert np.abs(lower[:, 0].astype(float) - faces[hidden, top:].mean(axis=(1, 2))).max() <= 0.5
    assert not posed.hide_mouth(faces, 0.0, seed=7)[1].any() and posed.hide_mouth(faces, 1.0, seed=7)[1].all()
    root = _posed_folder(tmp_path / "posed")
    base = TrainData(np.zeros((5, 48, 48), np.uint8), np.zeros(5, np.int64), np.zeros((4, 48, 48), np.uint8),
                     np.zeros(4, np.int64), LABELS, "x", targets=np.full((5, 7), 1 / 7, np.float32))
    cfg = TrainConfig(posed=str(root), posed_repeat=4, posed_fold=0, posed_hide_mouth=1.0).validate()
    added = with_posed(cfg, base, tmp_path / "fer2013", log=lambda m: None).train_images[5:]
    assert (added[:, top:] == added[:, top:top + 1, :1]).all() and added[:, :top].std() > 0
    assert with_posed(cfg, base, tmp_path, log=lambda m: None).record["posed"]["hide_mouth"] == 1.0
    with pytest.raises(ConfigError):
        TrainConfig(posed="x", posed_hide_mouth=1.5).validate()


def test_the_posed_people_a_model_never_saw_follow_its_record(tmp_path):
    """A blend is measured only on the people none of its runs (nor its base) trained on; a release that
    trained on every person has none left."""
    every = posed.EVERY_FOLD
    assert posed.config_held_out({}) == every                              # never trained on posed/
    assert posed.config_held_out({"posed": "default", "posed_fold": 2}) == {2}
    assert posed.config_held_out({"posed": "default", "posed_fold": -1}) == frozenset()
    assert posed.held_out([{"posed": "default", "posed_fold": 0}, {}]) == {0}
    assert posed.held_out([{"posed": "default", "posed_fold": 0}, {"posed": "default", "posed_fold": 1}]) == set()
    assert posed.held_out([{"posed": "default", "posed_fold": 0}], base=frozenset()) == set()
    with pytest.raises(ConfigError):
        posed.config_held_out({"posed": "default", "posed_folds": 5, "posed_fold": 0})
    rec = tmp_path / "rec"
    rec.mkdir()
    ingredients = [{"config": {"posed": "default", "posed_fold": 3}}, {"config": {"posed": ""}}]
    (rec / "blend.json").write_text(json.dumps({"ingredients": ingredients}))
    assert posed.record_held_out(rec) == {3}                               # a blend recorded before the field
    (rec / "blend.json").write_text(json.dumps({"ingredients": ingredients, "posed_held_out": []}))
    assert posed.record_held_out(rec) == frozenset()
    with pytest.raises(ConfigError):
        posed.record_held_out(tmp_path)


def test_crossval_needs_one_run_per_fold_and_reads_back_by_name(tmp_path):
    from convert.release import crossval      # deferred: the lab's conversion imports TensorFlow

    runs = []
    for fold in (0, 1, 2, 3):
        run = tmp_path / f"cv{fold}"
        run.mkdir()
        (run / "best.keras").write_bytes(b"x")
        (run / "blend.json").write_text(json.dumps({"ingredients": [], "posed_held_out": [fold]}))
        runs.append(run)
    assert list(crossval.fold_runs(runs[::-1])) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="no run"):
        crossval.fold_runs(runs[:3])
    with pytest.raises(ConfigError, match="both hold out"):
        crossval.fold_runs(runs + [runs[0]])
    (runs[2] / "blend.json").write_text(json.dumps({"ingredients": [], "posed_held_out": []}))
    with pytest.raises(ConfigError, match="must hold out one"):
        crossval.fold_runs(runs)

    faces = posed.load(_posed_folder(tmp_path / "posed"), LABELS)
    probs = np.eye(len(LABELS), dtype=np.float32)[faces.labels]
    order = np.arange(len(probs))[::-1]                                    # stored in another order
    np.savez_compressed(tmp_path / POSED_CV_NPZ, names=faces.names[order].astype(str), probs=probs[order],
                        labels=faces.labels[order], label_names=np.array(LABELS))
    assert np.array_equal(posed.crossval_probs(tmp_path, faces, LABELS), probs)
    assert posed.crossval_probs(tmp_path, faces.select(np.arange(3)), LABELS) is None   # other faces
    assert posed.crossval_probs(tmp_path, faces, LABELS[::-1]) is None                  # other labels
    assert posed.crossval_probs(runs[0], faces, LABELS) is None                         # none recorded
