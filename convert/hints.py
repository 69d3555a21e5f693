"""What a release tells every client through the model's metadata: flip
averaging and the calibration temperature, both chosen on PublicTest."""

from __future__ import annotations

from pathlib import Path

from convert.routes import evaluate_tflite

#: flip averaging is recommended in the model's metadata when it gains at least this on PublicTest
TTA_MIN_GAIN = 0.002


def fit_temperature(probs, labels, grid=None) -> float:
    """The temperature (runtime.contract.calibrate) with the lowest mean negative
    log-likelihood of the true labels, on a grid of 0.50..4.00 by 0.01."""
    import numpy as np

    from runtime.contract import calibrate

    grid = np.round(np.arange(0.5, 4.0001, 0.01), 2) if grid is None else grid
    idx = np.arange(len(labels))
    nll = [float(-np.log(np.maximum(calibrate(probs, t)[idx, labels], 1e-12)).mean()) for t in grid]
    return float(grid[int(np.argmin(nll))])


def runtime_hints(path: Path, data, single: dict, probs: dict, log=print) -> dict:
    """What the release tells every client through the model's metadata, both
    chosen on PublicTest: flip averaging (recommended when it gains at least
    :data:`TTA_MIN_GAIN`) and the temperature that calibrates the
    probabilities (fitted on PublicTest's one-pass int8 outputs). Rewrites the
    file's metadata (``tta`` and ``temperature`` in its contract) and returns
    the record: ``{"tta": ..., "calibration": ...}``. ``single`` and ``probs``:
    the model's one-pass metrics and :func:`split_probs`, measured already."""
    from convert.metadata import restamp
    from runtime.contract import calibrate
    from train.audit import evaluation_masks
    from train.io import atomic_path
    from train.metrics import expected_calibration_error

    flip = evaluate_tflite(path, data, tta="flip")
    acc = {split: {"none": single[split]["accuracy"], "flip": flip[split]["accuracy"]} for split in single}
    gain = acc["PublicTest"]["flip"] - acc["PublicTest"]["none"]
    tta = {"accuracy": acc, "chosen_on": "PublicTest", "min_gain": TTA_MIN_GAIN,
           "recommended": "flip" if gain >= TTA_MIN_GAIN else "none"}
    masks = evaluation_masks(data)
    t = fit_temperature(probs["PublicTest"], data.labels[masks["PublicTest"]])
    ece = {s: {"before": expected_calibration_error(data.labels[masks[s]], p),
               "after": expected_calibration_error(data.labels[masks[s]], calibrate(p, t))} for s, p in probs.items()}
    cal = {"temperature": t, "fitted_on": "PublicTest", "method": "temperature scaling, lowest NLL on a 0.01 grid",
           "ece": ece}
    out = restamp(path.read_bytes(), tta=tta["recommended"], temperature=t)
    with atomic_path(path, suffix=".tflite") as tmp:
        tmp.write_bytes(out)
    log(f"flip averaging: PublicTest {100 * acc['PublicTest']['none']:.2f}% -> {100 * acc['PublicTest']['flip']:.2f}%; "
        f"metadata recommends tta={tta['recommended']}")
    log(f"temperature {t:.2f} (PublicTest): ECE PublicTest {ece['PublicTest']['before']:.3f} -> "
        f"{ece['PublicTest']['after']:.3f}, PrivateTest {ece['PrivateTest']['before']:.3f} -> "
        f"{ece['PrivateTest']['after']:.3f}")
    return {"tta": tta, "calibration": cal}
