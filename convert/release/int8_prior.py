"""``python -m convert.release.int8_prior``: fit a blend's class prior again on its int8 outputs.

    python -m convert.release.int8_prior --run runs/blend --out runs/blend_int8 --data PATH
    python -m convert.release --run runs/blend_int8

A class prior fitted on the float model's outputs (``python -m
train.recipes.blend``) sits where its floors on the choosing sets bind, so the
small changes int8 makes to the probabilities move faces across the boundary
the prior was set on: the blend of ``soup_fp12`` and the release lost 1.4
points on wild-dev and 1.2 on the FER+ majority after post-training int8
(float 83.16% and 83.01%), while FER-2013 moved 0.2. Here the run is
converted as the release's first route converts it (:data:`ROUTES`), its int8
probabilities measured on the choosing sets, and the prior fitted again on
them with the blend's goal; the offsets found are added to the float head's
bias (the model's size, speed and contract do not change) and the release
converts that model. PrivateTest is never used.

``--out`` becomes a finished run folder: the run's record, the adjusted model,
``blend.json`` with an ``int8_prior`` entry (route, offsets, int8 figures on
the choosing sets before and after, command) and a new report. Exit codes as
for ``python -m convert.release``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from convert.quantize import QuantizationConfig, quantize
from convert.release.routes import ROUTES, real_face_sets
from runtime.classifier import Classifier
from runtime.errors import ConfigError, DataError, run_command
from train import config
from train.io import file_sha256
from train.recipes import blend, choose, posed
from train.recipes.prior import shift_head_bias
from train.report import inference_model, save_run


def int8_figures(model_path: Path, sets: dict, data_arg, log) -> tuple[dict, dict]:
    """(log-probabilities, figures) of the int8 model the release's first route makes from ``model_path``."""
    route, samples, seed = ROUTES[0]
    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "route.tflite"
        quantize(model_path, q, QuantizationConfig.for_int8(samples=samples, seed=seed), data=data_arg, log=log)
        clf = Classifier(q, threads=2, calibrated=False)
        probs = {k: clf.predict_proba(v[0]) for k, v in sets.items()}
    return {k: np.log(np.clip(v, 1e-12, 1.0)) for k, v in probs.items()}, choose.measure(probs, sets)


def make(run: Path, out: Path, data_arg=None, command: str = "", log=print) -> dict:
    """Write ``run`` with its prior fitted again on int8 outputs into ``out``; returns the new ``blend.json``."""
    if not (run / blend.BLEND_FILE).is_file() or not (run / "best.keras").is_file():
        raise ConfigError(f"{run}: no {blend.BLEND_FILE} or best.keras; pass a run of python -m train.recipes.blend")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; pick another --out")
    record = json.loads((run / blend.BLEND_FILE).read_text())
    goal = record["prior"]["goal"]
    if goal == "none":
        raise ConfigError(f"{run} was blended without a prior (--prior none): there is none to fit again")
    sets = real_face_sets(data_arg, log, posed.record_held_out(run))
    if sets is None:
        raise DataError("the FER+ votes and wild-dev must be beside FER-2013 to fit a prior on them")
    chosen = {k: v for k, v in sets.items() if k in choose.CHOOSING}
    logp, before = int8_figures(run / "best.keras", chosen, data_arg, log)
    offsets, after = choose.with_prior_log(logp, chosen, goal)
    log(choose.line("int8", before))
    log(choose.line("int8 +prior", after) + "  offsets " + " ".join(f"{x:+.1f}" for x in offsets))
    cfg = config.load_preset(str(run / "config.yaml"))
    model, _ = inference_model(cfg, run / "best.keras")
    shift_head_bias(model, offsets)
    record["int8_prior"] = {"route": list(ROUTES[0]), "source_sha256": file_sha256(run / "best.keras"),
                            "offsets": [round(float(x), 3) for x in offsets], "goal": goal,
                            "figures": {"int8": before, "int8_prior": after}, "command": command}
    save_run(out, config.from_dict({"out": str(out)}, cfg), model, {blend.BLEND_FILE: record})
    blend.write_report(out, record)
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.release.int8_prior", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run folder of python -m train.recipes.blend")
    p.add_argument("--out", required=True, help="new run folder")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    a = p.parse_args(argv)
    cmd = f"python -m convert.release.int8_prior --run {a.run} --out {a.out}"
    return run_command(lambda: make(Path(a.run), Path(a.out), a.data, cmd, log=lambda m: print(m, file=sys.stderr)),
                       extra="train")


if __name__ == "__main__":
    sys.exit(main())
