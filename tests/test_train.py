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


def test_cli_reports_bad_flags(capsys):
    from train.__main__ import main

    assert main(["--preset", "nope"]) == 2
    assert main(["--set", "epochs"]) == 2
    assert main(["--data", "/nonexistent/fer", "--preset", "smoke", "--out", "/tmp/x-never"]) == 3
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err
