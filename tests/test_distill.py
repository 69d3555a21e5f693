"""Soft targets: the teacher ensemble (python -m train.recipes.teacher), distillation and FER+ shares."""

import json

import numpy as np
import pytest

import train  # noqa: F401
from train import config
from train.recipes import soft_targets
from runtime.errors import ConfigError
from train.recipes.soft_targets import recipe_data


def test_soften_flattens_and_keeps_rows_normalized():
    p = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0]], np.float32)
    hot, cold = soft_targets.soften(p, 4.0), soft_targets.soften(p, 1.0)
    assert np.allclose(hot.sum(1), 1) and np.allclose(cold, p, atol=1e-6)
    assert hot[0, 0] < p[0, 0] and hot[0, 2] > p[0, 2]
    assert hot.argmax() == 0


def test_config_checks_soft_target_fields():
    with pytest.raises(ConfigError, match="teacher"):
        config.from_dict({"distill_weight": 0.5}).validate()
    with pytest.raises(ConfigError, match="sum to at most 1"):
        config.from_dict({"distill_weight": 0.7, "ferplus_weight": 0.5, "teacher": "t.npz"}).validate()
    with pytest.raises(ConfigError, match="temperature"):
        config.from_dict({"distill_temperature": 0}).validate()


def _teacher_file(tmp_path, data, probs=None):
    from train.recipes.teacher import write

    if probs is None:
        rng = np.random.default_rng(0)
        probs = rng.dirichlet(np.ones(7), len(data)).astype(np.float32)
    report = {"members": [], "ensemble": {s: 0.0 for s in ("PublicTest", "PrivateTest", "PrivateTest_clean")},
              "data_checksum_sha256": data.checksum, "rows": len(data)}
    write(probs, report, tmp_path / "teacher", "test")
    return tmp_path / "teacher" / "teacher.npz", probs


def test_targets_mix_hard_labels_teacher_and_refuse_other_data(tmp_path, tiny_folder):
    from train import fer2013

    root, _ = tiny_folder
    data = fer2013.load(root)
    npz, probs = _teacher_file(tmp_path, data)
    rows = np.flatnonzero(data.usage == 0)
    cfg = config.from_dict({"teacher": str(npz), "distill_weight": 0.25, "distill_temperature": 2.0})
    t, info = soft_targets.targets(cfg, data, rows, root)
    want = 0.75 * np.eye(7)[data.labels[rows]] + 0.25 * soft_targets.soften(probs[rows].astype(np.float16).astype(np.float32), 2.0)
    assert np.allclose(t, want, atol=1e-3) and np.allclose(t.sum(1), 1, atol=1e-3)
    assert info["teacher"]["weight"] == 0.25 and len(info["teacher"]["sha256"]) == 64
    assert soft_targets.targets(config.from_dict({}), data, rows, root) == (None, {})
    other = fer2013.FerData(data.images, data.labels, data.usage, data.names, [], "0" * 64)
    with pytest.raises(ConfigError, match="made from data"):
        soft_targets.targets(cfg, other, rows, root)
    report = json.loads((tmp_path / "teacher" / "teacher.json").read_text())
    assert report["npz_sha256"] and (tmp_path / "teacher" / "TEACHER.md").is_file()


def test_ferplus_share_keeps_hard_label_where_no_votes(tmp_path, tiny_folder):
    from train import fer2013

    root, made = tiny_folder
    data = fer2013.load(root)
    fp = tmp_path / "fp"
    fp.mkdir()
    cols = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    (fp / "fer2013new.csv").write_text("Usage,Image name," + cols + "\n" + "Training,a,0,10,0,0,0,0,0,0,0,0\n"
                                       + "Training,b,0,0,0,0,0,0,0,0,0,10\n")
    names = list(data.names)
    (fp / "fer2013_imagefolder_to_ferplus.csv").write_text(
        "path,fer2013_row\n" + f"{names[0]},0\n{names[1]},1\n")
    rows = np.flatnonzero(data.usage == 0)
    cfg = config.from_dict({"ferplus_weight": 0.5, "ferplus": str(fp)})
    t, info = soft_targets.targets(cfg, data, rows, root)
    assert info["ferplus"]["with_votes"] == 1 and info["ferplus"]["hard_label_kept"] == len(rows) - 1
    happy = np.eye(7)[3]
    i0 = list(rows).index(0)
    assert np.allclose(t[i0], 0.5 * np.eye(7)[data.labels[0]] + 0.5 * happy)
    i1 = list(rows).index(1)       # not-a-face votes: the hard label keeps the FER+ share
    assert np.allclose(t[i1], np.eye(7)[data.labels[1]])


@pytest.mark.slow
def test_distilled_smoke_run_records_its_teacher(tmp_path, tiny_folder):
    from train import fer2013, loop

    root, _ = tiny_folder
    npz, _ = _teacher_file(tmp_path, fer2013.load(root))
    cfg = config.load_preset("smoke")
    cfg.data, cfg.out, cfg.epochs, cfg.limit, cfg.batch_size = str(root), str(tmp_path / "run"), 1, 14, 7
    cfg.teacher, cfg.distill_weight = str(npz), 0.5
    out = loop.run(cfg, recipe_data(cfg), log=lambda m: None)
    info = json.loads((out / "data.json").read_text())["soft_targets"]
    assert info["teacher"]["weight"] == 0.5 and (out / "best.keras").is_file()
