"""What a release tells every client through the model's metadata: flip
averaging and the calibration temperature, both chosen on PublicTest."""

from __future__ import annotations

from pathlib import Path

from convert.metadata import restamp
from convert.release.routes import evaluate_tflite
from convert.temperature import fit_temperature
from runtime.contract import calibrate
from train.audit import evaluation_masks
from train.io import atomic_path
from train.metrics import expected_calibration_error

#: flip averaging is recommended in the model's metadata when it gains at least this on PublicTest
TTA_MIN_GAIN = 0.002


def runtime_hints(path: Path, data, single: dict, probs: dict, log=print) -> dict:
    """What the release tells every client through the model's metadata, both
    chosen on PublicTest: flip averaging (recommended when it gains at least
    :data:`TTA_MIN_GAIN`) and the temperature that calibrates the
    probabilities (fitted on PublicTest's one-pass int8 outputs). Rewrites the
    file's metadata (``tta`` and ``temperature`` in its contract) and returns
    the record: ``{"tta": ..., "calibration": ...}``. ``single`` and ``probs``:
    the model's one-pass metrics and :func:`split_probs`, measured already."""
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
