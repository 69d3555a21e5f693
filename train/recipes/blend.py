"""``python -m train.recipes.blend``: the release candidate of issue #36 as a finished run folder.

    python -m train.recipes.blend --runs runs/fp_split_s21 runs/fp_photo_s22 \\
        --base models/fer_mobilenetv2.keras --base-share 0.2 --prior fer2013 --out runs/blend --data PATH
    python -m convert.release --run runs/blend

Runs trained on the FER+ crowd's votes from one model (all fine-tuned from the
release: one basin of the loss) are averaged with equal shares (a soup), and
the average is blended with ``--base`` (the model they started from) at
``--base-share``: the votes fix real faces, the base keeps what FER-2013's own
labels taught. A class prior (per-class offsets added to the head's bias, so
size, speed and contract do not change) is then fitted on the choosing sets
with :func:`train.recipes.choose.fit_prior`: ``fer2013`` keeps wild-dev and the
FER+ majority above :data:`train.recipes.choose.FLOORS` and maximizes FER-2013
on PublicTest; ``balanced`` weighs all three; ``none`` fits none.

Everything is chosen on PublicTest (FER-2013 labels and FER+ majority) and
``wild-dev``; PrivateTest is only reported. The posed people held out are
measured (never fitted) where no ingredient trained on them: the folds every run
held out and, for the base, the folds its record (``--base-record``, a run or
release record folder) says it never saw; without a record the base is taken to
have never trained on ``posed/``, and ``blend.json`` says which folds counted.
``--out`` becomes a finished run:
``best.keras``/``model.keras``, the first run's config, ``blend.json`` (each
run's file, sha256, command and record; the base's sha256; the share; the
prior's offsets; figures on the choosing sets before and after the prior; the
command) and the report on every split. Exit codes as for ``python -m train``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, run_command
from train import config, fer2013, report
from train.io import atomic_write_json, atomic_write_text, file_sha256
from train.recipes import choose, posed
from train.recipes.prior import shift_head_bias
from train.recipes.soup import average_weights
from train.report import inference_model
from train.saved import load_keras_model

#: the record of how a blend was made, kept with the run and the release
BLEND_FILE = "blend.json"
GOALS = ("fer2013", "balanced", "none")


def _run_record(run: Path) -> dict:
    """What a blend keeps of one averaged run: its files' checksums, config, command and training figures."""
    for f in ("config.yaml", "best.keras"):
        if not (run / f).is_file():
            raise ConfigError(f"{run}: no {f}; a blend takes finished run folders")
    cfg = config.load_preset(str(run / "config.yaml"))
    rep = json.loads((run / "report.json").read_text()) if (run / "report.json").is_file() else {}
    data = json.loads((run / "data.json").read_text()) if (run / "data.json").is_file() else {}
    return {"run": str(run), "sha256": file_sha256(run / "best.keras"), "config": cfg.to_dict(),
            "command": config.command(cfg.to_dict()), "init_sha256": data.get("init_sha256"),
            "best_epoch": rep.get("best_epoch"), "epochs_trained": rep.get("epochs_trained"),
            "train_minutes": rep.get("train_minutes")}


def blended_model(runs: list[Path], base: Path | None, share: float):
    """The inference model of the first run holding the equal average of the runs' weights, blended with
    ``base`` at ``share`` (the base's part)."""
    cfg = config.load_preset(str(runs[0] / "config.yaml"))
    model, _ = inference_model(cfg, runs[0] / "best.keras")
    weights = [model.get_weights()]
    for run in runs[1:]:
        other, _ = inference_model(config.load_preset(str(run / "config.yaml")), run / "best.keras")
        weights.append(other.get_weights())
    avg = average_weights(weights)
    if base is not None and share > 0:
        base_w = load_keras_model(base).get_weights()
        if len(base_w) != len(avg) or any(a.shape != b.shape for a, b in zip(avg, base_w)):
            raise ConfigError(f"{base} is not the runs' architecture: it cannot be blended with them")
        avg = average_weights([avg, base_w], [1 - share, share])
    model.set_weights(avg)
    return cfg, model


def fitted_prior(model, sets: dict, goal: str) -> tuple[np.ndarray, dict, dict]:
    """(offsets for the head's bias, figures before, figures after) on the choosing sets."""
    probs = {k: choose.probabilities(model, v[0]) for k, v in sets.items()}
    before = choose.measure(probs, sets)
    if goal == "none":
        return np.zeros(probs["PublicTest"].shape[1]), before, before
    bias, after = choose.with_prior(probs, sets, goal)
    return bias, before, after


def make(runs: list[Path], out: Path, base: Path | None, share: float, goal: str, data_path: str | None = None,
         command: str = "", log=print, base_held: frozenset[int] = posed.EVERY_FOLD) -> dict:
    """Write the blend of ``runs`` (and ``base`` at ``share``) with its fitted prior into ``out``; returns
    ``blend.json``. ``base_held``: the folds of ``posed/``'s people the base never trained on."""
    if not runs:
        raise ConfigError("a blend needs at least one run")
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"--base-share must be in [0, 1), not {share}")
    if share > 0 and (base is None or not base.is_file()):
        raise ConfigError(f"--base {base} is not a file: a share of the base needs the base model")
    if goal not in GOALS:
        raise ConfigError(f"--prior must be one of {', '.join(GOALS)}")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; pick another --out")
    t0 = time.time()
    ingredients = [_run_record(r) for r in runs]
    held = posed.held_out([i["config"] for i in ingredients], base_held if share > 0 else posed.EVERY_FOLD)
    sets = choose.load_sets(data_path, posed_held=held)
    cfg, model = blended_model(runs, base, share)
    bias, before, after = fitted_prior(model, sets, goal)
    shift_head_bias(model, bias)
    log(choose.line("blend", before))
    log(choose.line("blend +prior", after) + "  offsets " + " ".join(f"{x:+.1f}" for x in bias))
    record = {"ingredients": ingredients, "base": str(base) if share > 0 else None,
              "base_sha256": file_sha256(base) if share > 0 else None, "base_share": share,
              "prior": {"goal": goal, "offsets": [round(float(x), 3) for x in bias],
                        "floors": choose.FLOORS, "recall_floors": choose.RECALL_FLOORS},
              "posed_held_out": sorted(held),
              "chosen_on": sorted(sets), "sets": {k: {"n": int(len(v[1])), "data_checksum_sha256": v[2]}
                                                  for k, v in sets.items()},
              "figures": {"blend": before, "blend_prior": after}, "command": command,
              "minutes": round((time.time() - t0) / 60, 2)}
    report.save_run(out, config.from_dict({"out": str(out), "data": str(fer2013.require_data(data_path))}, cfg),
                    model, {BLEND_FILE: record})
    write_report(out, record)
    return record


def write_report(out: Path, record: dict) -> dict:
    """The blend's run report: every split evaluated; epochs and training time are the runs' totals."""
    cfg = config.load_preset(str(out / "config.yaml"))
    rep = report.write(cfg)
    rep["epochs_trained"] = sum(i.get("epochs_trained") or 0 for i in record["ingredients"])
    rep["train_minutes"] = sum(i.get("train_minutes") or 0 for i in record["ingredients"]) + record["minutes"]
    rep["best_epoch"] = None
    rep["blend"] = record
    meta = {k: rep[k] for k in ("data_checksum_sha256", "epochs_trained", "train_minutes", "hardware")}
    atomic_write_json(out / "report.json", rep)
    names = " + ".join(Path(i["run"]).name for i in record["ingredients"])
    base = f", {record['base_share']:g} of `{Path(record['base']).name}`" if record["base"] else ""
    atomic_write_text(out / "report.md", report.markdown(cfg, rep["results"], meta).replace(
        "# Run report:", f"# Run report (average of {names}{base}, prior {record['prior']['goal']}):", 1))
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.recipes.blend", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="finished run folders (best.keras, config.yaml), "
                                                             "averaged with equal shares")
    p.add_argument("--base", help="Keras model the runs started from, blended in at --base-share")
    p.add_argument("--base-share", type=float, default=0.0, help="the base's share of the weights (0 = none)")
    p.add_argument("--base-record", help="the base's run or release record folder (blend.json or config.yaml): "
                                         "which posed people it trained on (default: none)")
    p.add_argument("--prior", choices=GOALS, default="fer2013", help="class prior fitted on the choosing sets")
    p.add_argument("--data", help="FER-2013 image-folder root or fer2013.csv (default: $FER_DATA)")
    p.add_argument("--out", required=True, help="new run folder for the blend")
    a = p.parse_args(argv)
    cmd = ("python -m train.recipes.blend --runs " + " ".join(a.runs)
           + (f" --base {a.base} --base-share {a.base_share:g}" if a.base else "")
           + (f" --base-record {a.base_record}" if a.base_record else "") + f" --prior {a.prior} --out {a.out}")

    def body():
        base_held = posed.record_held_out(Path(a.base_record)) if a.base_record else posed.EVERY_FOLD
        return make([Path(r) for r in a.runs], Path(a.out), Path(a.base) if a.base else None, a.base_share,
                    a.prior, a.data, cmd, base_held=base_held)
    return run_command(body, extra="train")


if __name__ == "__main__":
    sys.exit(main())
