"""``python -m train.recipes.prior``: undo the class-weight prior in a finished model's head.

A run trained with class weights (``class_weight_power`` > 0, to lift the rare
disgust class) learns probabilities tilted by those weights: roughly
``p(c | x) * w_c``. Subtracting ``tau * log(w_c)`` from the logits takes the
tilt back (the logit adjustment of Menon et al., 2021): ``tau = 1`` removes
it, ``tau = 0`` keeps the model as it is. The correction is a shift of the
dense head's bias, so the model's size, speed and contract do not change::

    python -m train.recipes.prior --run runs/soup --out runs/soup_prior --data PATH
    python -m convert.release --run runs/soup_prior

``tau`` is chosen on **PublicTest** (single pass, no flip) from
:data:`GRID`; a tie keeps the smaller one, and with ``tau = 0`` the model is
unchanged. ``--out`` becomes a finished run folder: the adjusted model as
``best.keras`` and ``model.keras``, the source's record (config, data
checksum, log, history, and ``soup.json`` when the source is a soup),
``prior.json`` (the source's checksum, the class weights, PublicTest
accuracy at every ``tau``, the choice, the command) and a new report, whose
``prior`` key the model card reads. Exit codes as for ``python -m train``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, DataError, OutputError, run_command
from train import config, fer2013, report
from train.io import atomic_path, atomic_write_json, atomic_write_text, file_sha256
from train.loop import class_weights
from train.report import inference_model
from train.saved import model_input

#: the values of tau tried on PublicTest
GRID = tuple(round(0.1 * k, 1) for k in range(11))
PRIOR_FILE = "prior.json"
#: the source's record files the adjusted run keeps (config, report and model files are written anew)
KEPT = ("data.json", "history.csv", "history.json", "history.png", "train.log", "soup.json")


def choose_tau(log_probs: np.ndarray, labels: np.ndarray, log_w: np.ndarray,
               grid=GRID) -> tuple[float, list[dict]]:
    """(tau with the best accuracy of ``argmax(log_probs - tau * log_w)``, every
    tau's accuracy); a tie keeps the smaller tau."""
    table = [{"tau": float(t), "accuracy": float(((log_probs - t * log_w).argmax(1) == labels).mean())}
             for t in grid]
    best = max(table, key=lambda r: (r["accuracy"], -r["tau"]))
    return best["tau"], table


def shift_head_bias(model, delta: np.ndarray, layer: str = "predictions") -> None:
    """Add ``delta`` to the bias of the softmax head ``layer`` (in place)."""
    head = model.get_layer(layer)
    kernel, bias = head.get_weights()
    head.set_weights([kernel, (bias + np.asarray(delta, dtype=bias.dtype)).astype(bias.dtype)])


def _log_probs(model, faces: np.ndarray) -> np.ndarray:
    return np.log(np.clip(model.predict(model_input(model, faces), batch_size=256, verbose=0), 1e-12, 1.0))


def make(run: Path, out: Path, data_path: str | None = None, command: str = "", log=print) -> dict:
    """Write the prior-corrected copy of the finished run ``run`` into ``out``; returns ``prior.json``."""
    for f in ("config.yaml", "best.keras", "report.json"):
        if not (run / f).is_file():
            raise ConfigError(f"{run}: no {f}; pass a finished run folder")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; pick another --out")
    cfg = config.load_preset(str(run / "config.yaml"))
    if cfg.class_weight_power <= 0:
        raise ConfigError(f"{run} was trained without class weights (class_weight_power "
                          f"{cfg.class_weight_power}): there is no prior to correct")
    path = fer2013.find_data(data_path)
    if path is None:
        raise DataError("FER-2013 not found: pass --data PATH (image-folder root or fer2013.csv) or set FER_DATA")
    data = fer2013.load(path)
    cw = class_weights(data.split("Training").labels, cfg.class_weight_power)
    log_w = np.log(np.array([cw[c] for c in sorted(cw)], dtype=np.float64))
    model, _ = inference_model(cfg, run / "best.keras")
    pub = data.split("PublicTest")
    tau, table = choose_tau(_log_probs(model, pub.images), pub.labels, log_w)
    for r in table:
        log(f"tau {r['tau']:.1f}: PublicTest {100 * r['accuracy']:.2f}%")
    log(f"chosen on PublicTest: tau {tau:.1f}" + (" (the model is unchanged)" if tau == 0 else ""))
    shift_head_bias(model, -tau * log_w)
    record = {"source": str(run), "source_sha256": file_sha256(run / "best.keras"),
              **({"source_model_sha256": file_sha256(run / "model.keras")} if (run / "model.keras").is_file() else {}),
              "class_weight_power": cfg.class_weight_power, "class_weights": [float(cw[c]) for c in sorted(cw)],
              "grid": table, "tau": tau, "chosen_on": "PublicTest", "bias_delta": (-tau * log_w).tolist(),
              "data_checksum_sha256": data.checksum, "command": command}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in KEPT:
            if (run / f).is_file():
                shutil.copy2(run / f, out / f)
        config.save(config.from_dict({"out": str(out), "data": str(path)}, cfg), out / "config.yaml")
        with atomic_path(out / "best.keras", suffix=".keras") as tmp:
            model.save(tmp)
        atomic_write_json(out / PRIOR_FILE, record)
    except OSError as e:
        raise OutputError(f"cannot write {getattr(e, 'filename', None) or out}: {e.strerror or e}") from None
    write_report(out, json.loads((run / "report.json").read_text()), record)
    return record


def write_report(out: Path, source_report: dict, prior: dict) -> dict:
    """The adjusted run's report: every split evaluated again; training figures
    (epochs, minutes, best epoch, the soup record) are the source's."""
    cfg = config.load_preset(str(out / "config.yaml"))
    rep = report.write(cfg)
    for k in ("epochs_trained", "best_epoch", "train_minutes", "soup"):
        if k in source_report:
            rep[k] = source_report[k]
    rep["prior"] = prior
    meta = {k: rep[k] for k in ("data_checksum_sha256", "epochs_trained", "train_minutes", "hardware")}
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", report.markdown(cfg, rep["results"], meta).replace(
        "# Run report:", f"# Run report ({Path(rep['prior']['source']).name}, class prior corrected, "
        f"tau {rep['prior']['tau']:.1f}):", 1))
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.recipes.prior", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="finished run folder (best.keras, config.yaml, report.json)")
    p.add_argument("--out", required=True, help="new run folder for the corrected model")
    p.add_argument("--data", help="FER-2013 image-folder root or fer2013.csv (default: $FER_DATA)")
    a = p.parse_args(argv)
    cmd = f"python -m train.recipes.prior --run {a.run} --out {a.out}"
    return run_command(lambda: make(Path(a.run), Path(a.out), a.data, cmd), extra="train")


if __name__ == "__main__":
    sys.exit(main())
