"""python -m train on tiny data: config, artifacts, resume."""

import json

import pytest

import train  # noqa: F401
from train import config
from runtime.errors import ConfigError
from train.sources import for_run


def test_presets_load_and_validate():
    for name in ("release", "paper", "smoke", "fast"):
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
    out = loop.run(cfg, for_run(cfg), log=lambda m: None)
    for f in ("config.yaml", "data.json", "history.csv", "history.json", "best.keras", "ckpt/last.keras"):
        assert (out / f).is_file(), f
    assert json.loads((out / "ckpt" / "state.json").read_text())["epoch"] == 0
    with pytest.raises(ConfigError, match="--resume"):
        loop.run(cfg, for_run(cfg), log=lambda m: None)
    cfg.epochs = 2
    loop.run(cfg, for_run(cfg), resume=True, log=lambda m: None)
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


def test_ablation_ladder_goes_from_paper_to_release():
    """Each step validates, budgets stay comparable, and the last step is the
    release recipe in everything but length (so the table measures the real gap)."""
    from train.recipes import ablation

    paper, release = config.load_preset("paper"), config.load_preset("release")
    cfgs = [config.from_dict(ablation.step_overrides(i), paper).validate() for i in range(len(ablation.STEPS))]
    assert cfgs[0].freeze_base and cfgs[0].subset_train == 500 and cfgs[0].optimizer == "adam"
    seen = [c.epochs * (ablation.SUBSET_IMAGES if c.subset_train else ablation.TRAINING_IMAGES) for c in cfgs]
    assert max(seen) / min(seen) < 1.1
    last, ref = cfgs[-1].to_dict(), release.to_dict()
    assert {k for k in ref if last[k] != ref[k]} == {"recipe", "epochs", "out"}


def test_ablation_table_from_reports(tmp_path):
    from train.recipes import ablation

    def report(step, acc, subset, epochs):
        res = {s: {"accuracy": acc, "macro_f1": acc - 0.1} for s in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
        d = tmp_path / step
        d.mkdir()
        (d / "report.json").write_text(json.dumps({
            "recipe": f"ablation-{step}", "epochs_trained": epochs, "train_minutes": 3.0,
            "config": {"subset_train": subset, "image_size": 48}, "results": res}))

    report("paper", 0.40, 500, 16)
    report("finetune", 0.45, 500, 16)
    out = ablation.table(tmp_path, [])
    assert [r["step"] for r in out["steps"]] == ["paper", "finetune"]
    assert out["steps"][1]["delta"] == pytest.approx(0.05)
    md = (tmp_path / "ablation.md").read_text()
    assert "| finetune |" in md and "+5.00" in md and "45.00%" in md
    assert ablation.main(["--out", str(tmp_path), "--steps", "nope"]) == 2


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    import errno
    import os

    from runtime.errors import OutputError
    from train.io import atomic_path, atomic_write_text

    target = tmp_path / "report.json"
    atomic_write_text(target, "old")

    with pytest.raises(OutputError, match="no space left on the device"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]     # no temporary file left

    # no place to create the file at all: the one-line error too; another OSError of the block goes on as it is
    with pytest.raises(OutputError, match="cannot write"):
        with atomic_path(target / "under_a_file.json"):
            pytest.fail("the block ran without a temporary file")
    with pytest.raises(FileNotFoundError):
        with atomic_path(target) as tmp:
            open(tmp_path / "missing" / "x")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_training_reports_an_unwritable_output_in_one_line(tmp_path, tiny_folder, capsys, monkeypatch):
    """Saving the checkpoint fails with ENOSPC: exit 5, one line, no half-written checkpoint."""
    import errno
    import os

    import tf_keras as keras

    from train.__main__ import main

    root, _ = tiny_folder

    def full_disk(self, path, *a, **k):
        open(path, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(keras.Model, "save", full_disk)
    out = tmp_path / "run"
    rc = main(["--preset", "smoke", "--data", str(root), "--out", str(out), "--set", "epochs=1",
               "--set", "limit=14", "--set", "batch_size=7"])
    err = capsys.readouterr().err
    assert rc == 5
    assert "error: cannot write" in err and "no space left" in err and "Traceback" not in err
    assert not (out / "best.keras").exists() and not (out / "ckpt" / "last.keras").exists()
    assert not [p for p in out.rglob(".*.keras*")]

    # An output folder that cannot be created: also exit 5 with one line.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--preset", "smoke", "--data", str(root), "--out", str(blocker / "run")]) == 5
    assert "error: cannot write" in capsys.readouterr().err


def test_second_cycle_starts_from_a_trained_keras_model(tmp_path):
    """init: *.keras copies every weighted layer and keeps the source's
    torchvision conventions (padding, normalization, BatchNorm epsilon)."""
    import numpy as np

    from train.loop import build_initialized, model_kwargs
    from train.model import build_model

    src = build_model(image_size=48, alpha=0.35, channels=1, dropout=0.0, padding="torch",
                      normalization="torch", bn_epsilon=1e-5)
    rng = np.random.RandomState(0)
    src.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") if w.ndim > 1 else w for w in src.get_weights()])
    path = tmp_path / "stage1.keras"
    src.save(path)
    cfg = config.from_dict({"init": str(path), "image_size": 48, "alpha": 0.35, "dropout": 0.2})
    kw = model_kwargs(cfg)
    assert (kw["padding"], kw["normalization"], kw["bn_epsilon"]) == ("torch", "torch", 1e-5)
    model = build_initialized(cfg)
    x = rng.randint(0, 256, (3, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(model(x, training=False).numpy(), src(x, training=False).numpy(), atol=1e-6)
    # another working resolution (a faster model from a trained one): same weights, other input size
    small = build_initialized(config.from_dict({"init": str(path), "image_size": 40, "alpha": 0.35, "dropout": 0.2}))
    for a, b in zip(small.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="does not match"):
        build_initialized(config.from_dict({"init": str(path), "image_size": 48, "alpha": 0.5}))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        build_initialized(config.from_dict({"init": str(bad)}))


@pytest.mark.slow
def test_freeze_bn_keeps_the_init_batchnorm_and_trains_the_rest(tmp_path, tiny_folder):
    """freeze_bn: the BatchNorm statistics, scale and shift come out of a run
    as ``init`` had them (a soup's averaged statistics survive); the
    convolutions still train."""
    import numpy as np

    from train import loop
    from train.loop import source_model
    from train.model import build_model

    root, _ = tiny_folder
    src = build_model(image_size=48, alpha=0.35, channels=1, dropout=0.0)
    rng = np.random.RandomState(0)
    src.set_weights([w + rng.normal(0, 0.05, w.shape).astype("float32") for w in src.get_weights()])
    init = tmp_path / "soup.keras"
    src.save(init)
    cfg = _smoke(tmp_path, root, epochs=1, init=str(init), freeze_bn=True)
    out = loop.run(cfg, for_run(cfg), log=lambda m: None)
    trained = source_model(str(out / "best.keras"))
    bn = [layer.name for layer in src.layers if type(layer).__name__ == "BatchNormalization"]
    assert bn
    for name in bn:
        for a, b in zip(src.get_layer(name).get_weights(), trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.array_equal(src.get_layer("Conv1").get_weights()[0], trained.get_layer("Conv1").get_weights()[0])


def test_copy_weights_from_a_base_without_the_head():
    """An ImageNet-style source (the base, no classifier head) fills every
    layer it has; the head keeps its own weights. Strict (a trained model to
    continue from), a missing layer is an error naming it."""
    import numpy as np
    import tf_keras as keras

    from train.loop import _copy_weights
    from train.model import build_model

    kw = dict(image_size=48, alpha=0.35, channels=1, dropout=0.0)
    src, dst = build_model(seed=1, **kw), build_model(seed=2, **kw)
    rng = np.random.RandomState(0)
    src.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in src.get_weights()])
    head = dst.get_layer("predictions").get_weights()
    base = keras.Model(src.input, src.get_layer("predictions").input)      # everything but the head
    weighted = [l for l in dst.layers if l.weights and l.name != "dropout"]
    assert _copy_weights(base, dst) == len(weighted) - 1
    for layer in weighted:
        want = head if layer.name == "predictions" else src.get_layer(layer.name).get_weights()
        for a, b in zip(layer.get_weights(), want):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="at layer 'predictions'"):
        _copy_weights(base, dst, init="base.keras")
