"""What a release tells every client through the model's metadata: flip
averaging and the calibration temperature, both chosen on PublicTest, or on
the choosing sets of real faces when they are there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convert.metadata import restamp
from convert.release.routes import CHOOSING, evaluate_tflite, measure_sets
from convert.temperature import fit_temperature
from runtime.contract import calibrate
from train.audit import evaluation_masks
from train.io import atomic_path
from train.metrics import expected_calibration_error

#: flip averaging is recommended in the model's metadata when it gains at least this on PublicTest
TTA_MIN_GAIN = 0.002


#: the sets whose labels the temperature is fitted to when they are there: the FER+ crowd's majority on
#: PublicTest and the real web faces of wild-dev (the faces users have), pooled
CALIBRATION_SETS = ("PublicTest_FERplus", "wild_dev")


def runtime_hints(path: Path, data, single: dict, probs: dict, log=print, sets: dict | None = None,
                  real: tuple[dict, dict] | None = None) -> dict:
    """What the release tells every client through the model's metadata, both
    chosen on PublicTest: flip averaging (recommended when it gains at least
    :data:`TTA_MIN_GAIN`) and the temperature that calibrates the
    probabilities (fitted on PublicTest's one-pass int8 outputs). Rewrites the
    file's metadata (``tta`` and ``temperature`` in its contract) and returns
    the record: ``{"tta": ..., "calibration": ...}``. ``single`` and ``probs``:
    the model's one-pass metrics and :func:`split_probs`, measured already. With
    ``sets`` (the choosing sets of real faces) and ``real`` (the model's
    one-pass figures and probabilities there), flip is chosen on the mean of
    :data:`~convert.release.routes.CHOOSING` and the temperature fitted on
    :data:`CALIBRATION_SETS`."""
    flip = evaluate_tflite(path, data, tta="flip")
    acc = {split: {"none": single[split]["accuracy"], "flip": flip[split]["accuracy"]} for split in single}
    chosen_on = ["PublicTest"]
    if sets and real:
        flip_real, _ = measure_sets(path, sets, tta="flip")
        acc.update({k: {"none": real[0][k]["accuracy"], "flip": flip_real[k]["accuracy"]} for k in sets
                    if k not in acc})     # PublicTest and PrivateTest are the FER-2013 splits measured above
        chosen_on = list(CHOOSING)
    gain = float(np.mean([acc[k]["flip"] - acc[k]["none"] for k in chosen_on]))
    tta = {"accuracy": acc, "chosen_on": ", ".join(chosen_on) + (" (mean)" if len(chosen_on) > 1 else ""),
           "min_gain": TTA_MIN_GAIN, "recommended": "flip" if gain >= TTA_MIN_GAIN else "none"}
    masks = evaluation_masks(data)
    labelled = {s: (p, data.labels[masks[s]]) for s, p in probs.items()}
    if sets and real:
        labelled.update({k: (real[1][k], sets[k][1]) for k in sets if k not in labelled})
        fit_on = CALIBRATION_SETS
    else:
        fit_on = ("PublicTest",)
    t = fit_temperature(np.concatenate([labelled[k][0] for k in fit_on]),
                        np.concatenate([labelled[k][1] for k in fit_on]))
    ece = {s: {"before": expected_calibration_error(y, p), "after": expected_calibration_error(y, calibrate(p, t))}
           for s, (p, y) in labelled.items()}
    cal = {"temperature": t, "fitted_on": " + ".join(fit_on), "method": "temperature scaling, lowest NLL on a 0.01 grid",
           "ece": ece}
    out = restamp(path.read_bytes(), tta=tta["recommended"], temperature=t)
    with atomic_path(path, suffix=".tflite") as tmp:
        tmp.write_bytes(out)
    log(f"flip averaging: {100 * gain:+.2f} points on {tta['chosen_on']}; metadata recommends tta={tta['recommended']}")
    log(f"temperature {t:.2f} ({cal['fitted_on']}): ECE PublicTest {ece['PublicTest']['before']:.3f} -> "
        f"{ece['PublicTest']['after']:.3f}, PrivateTest {ece['PrivateTest']['before']:.3f} -> "
        f"{ece['PrivateTest']['after']:.3f}")
    return {"tta": tta, "calibration": cal}
