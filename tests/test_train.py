"""python -m train on tiny data: config, artifacts, resume."""

import json

import pytest

import train  # noqa: F401
from train import config
from train.errors import ConfigError


def test_presets_load_and_validate():
    for name in ("release", "paper", "smoke"):
        config.load_preset(name).validate()
    paper = config.load_preset("paper")
    assert (paper.subset_train, paper.subset_val, paper.image_size, paper.epochs) == (500, 100, 96, 45)
    assert paper.freeze_base
    with pytest.raises(ConfigError, match="no preset"):
        config.load_preset("nope")
    with pytest.raises(ConfigError, match="unknown config key"):
        config.from_dict({"learning_rate": 1})
    with pytest.raises(ConfigError, match="cannot read"):
        config.from_dict({"epochs": "many"})
    with pytest.raises(ConfigError, match="image_size"):
        config.from_dict({"image_size": 500}).validate()


def test_class_weights_lift_rare_classes():
    import numpy as np

    from train.loop import class_weights

    y = np.array([0] * 90 + [1] * 10)
    w = class_weights(y, 0.5)
    assert w[1] > w[0] and class_weights(y, 0) is None


def _smoke(tmp_path, root, **over):
    cfg = config.load_preset("smoke")
    cfg.data, cfg.out = str(root), str(tmp_path / "run")
    cfg.limit, cfg.batch_size = 14, 7
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


@pytest.mark.slow
def test_smoke_run_writes_artifacts_and_resumes(tmp_path, tiny_folder):
    from train import loop

    root, _ = tiny_folder
    cfg = _smoke(tmp_path, root, epochs=1)
    out = loop.run(cfg, log=lambda m: None)
    for f in ("config.yaml", "data.json", "history.csv", "history.json", "best.keras", "ckpt/last.keras"):
        assert (out / f).is_file(), f
    assert json.loads((out / "ckpt" / "state.json").read_text())["epoch"] == 0
    with pytest.raises(ConfigError, match="--resume"):
        loop.run(cfg, log=lambda m: None)
    cfg.epochs = 2
    loop.run(cfg, resume=True, log=lambda m: None)
    hist = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in hist] == [1, 2]


def test_cli_reports_bad_flags(capsys, tmp_path):
    from train.__main__ import main

    assert main(["--preset", "nope"]) == 2
    assert main(["--set", "epochs"]) == 2
    assert main(["--data", "/nonexistent/fer", "--preset", "smoke", "--out", str(tmp_path / "x")]) == 3
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, tiny_folder):
    import os
    import subprocess
    import sys

    from .conftest import REPO

    out = tmp_path / "mirrored"
    r = subprocess.run([sys.executable, "-m", "train", "--preset", "smoke", "--data", str(tiny_folder[0]),
                        "--out", str(out), "--strategy", "mirrored", "--epochs", "1", "--set", "limit=14",
                        "--set", "batch_size=8"], capture_output=True, text=True, cwd=REPO, timeout=600,
                       env=dict(os.environ, PYTHONPATH=str(REPO), FER_LOGICAL_CPUS="2"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "strategy mirrored: 2 replica(s)" in (out / "train.log").read_text()
    assert (out / "best.keras").is_file()
