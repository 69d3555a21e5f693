"""python -m train.recipes.prior: the class prior of the class weights taken back from a model's head."""

import json

import numpy as np
import pytest

import train  # noqa: F401


def test_tau_is_chosen_on_the_accuracy_it_gives_and_ties_keep_the_smaller():
    from train.recipes.prior import choose_tau

    # two classes; class 1 was weighted up (w = e), so the model leans to it: without the
    # correction 2 of 4 are right, with tau from 0.5 to 0.8 all 4, at 1 three
    log_w = np.array([0.0, 1.0])
    logp = np.log(np.array([[0.40, 0.60], [0.45, 0.55], [0.10, 0.90], [0.30, 0.70]]))
    labels = np.array([0, 0, 1, 1])
    tau, table = choose_tau(logp, labels, log_w)
    acc = {r["tau"]: r["accuracy"] for r in table}
    assert acc[0.0] == 0.5 and acc[0.8] == 1.0 and acc[1.0] == 0.75
    assert tau == min(t for t, a in acc.items() if a == 1.0) == 0.5
    assert choose_tau(logp[2:], labels[2:], log_w)[0] == 0.0      # nothing to gain: the model stays


def test_shifting_the_head_bias_is_the_logit_adjustment(tiny_keras_model):
    from convert.quantize import load_keras_model
    from train.recipes.prior import shift_head_bias

    model = load_keras_model(tiny_keras_model)
    x = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1)).astype(np.float32)
    before = model.predict(x, verbose=0)
    delta = np.linspace(-1.0, 1.0, before.shape[1])
    shift_head_bias(model, delta)
    after = model.predict(x, verbose=0)
    want = before * np.exp(delta)
    np.testing.assert_allclose(after, want / want.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_cli_refuses_a_run_without_class_weights_and_a_missing_run(tmp_path, capsys):
    from train import config
    from train.recipes.prior import main

    assert main(["--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    cfg = config.load_preset("release")
    cfg.class_weight_power = 0.0
    config.save(cfg, run / "config.yaml")
    (run / "best.keras").write_bytes(b"x")
    (run / "report.json").write_text("{}")
    assert main(["--run", str(run), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "without class weights" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_card_names_the_prior_and_remakes_it():
    """The card of a corrected model gives tau, the PublicTest figures it was
    chosen by, and the train.recipes.prior command between training and conversion."""
    from convert.release.card import card
    from runtime.contract import LABELS
    from train import config

    res = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
           "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in LABELS}}
    splits = {s: res for s in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
    prior = {"source": "/r/run", "source_sha256": "0" * 64, "tau": 0.3, "class_weights": [1.0] * 7,
             "grid": [{"tau": round(0.1 * k, 1), "accuracy": 0.69 + (0.005 if k == 3 else 0)} for k in range(11)],
             "command": "python -m train.recipes.prior --run /r/run --out /r/run_prior"}
    report = {"config": config.load_preset("release").to_dict(), "data_checksum_sha256": "abc",
              "train_minutes": 20.0, "hardware": "x86_64 (2 cores)", "best_epoch": 5, "epochs_trained": 6,
              "prior": prior}
    qrep = {"gate": {}, "calibration": {"samples": 300, "seed": 0, "sha256": "def"}}
    text = card(report, splits, splits, qrep, "cmd", 2_000_000)
    assert "tau = 0.3 chosen on PublicTest from 0 to 1 (single pass, float: 69.50% against 69.00% at tau = 0)" in text
    assert "python -m train.recipes.prior --run runs/release --out runs/release_prior --data PATH\n" \
           "python -m convert.release --run runs/release_prior" in text
    assert "`records/release/prior.json`" in text      # the release tier keeps its record in models/records
