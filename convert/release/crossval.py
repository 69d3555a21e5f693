"""``python -m convert.release.crossval``: the posed figures of a release that trained on every posed person.

    python -m convert.release.crossval --runs runs/cv0_int8 runs/cv1_int8 runs/cv2_int8 runs/cv3_int8 \\
        --out runs/blend_int8 --data PATH
    python -m convert.release --run runs/blend_int8

A release that trains on all of ``posed/``'s people (``posed_fold: -1``) has no
posed person left to be measured on. Its recipe is: the same runs, blend and
int8 prior, once for every fold with that fold's people held out
(``posed_fold: k``). Each of those models is converted as the release's first
route converts (:data:`convert.release.routes.ROUTES`) and reads the people of
its own fold, one int8 pass, as ``fer-infer`` reads a crop; together the folds
read every posed person once, by a model that never saw them. That is the
estimate of how the recipe reads the posed faces of people it never saw, and
what the card, the benchmark and the README give for the release.

``--out``, the run folder the release converts (its record keeps the two
files), gets ``posed_cv.json`` (per fold: the run, its model's sha256, its
people and figures; pooled: accuracy, macro-F1, recall, confusion; the command
and the data checksum) and ``posed_cv.npz`` (per face: file name, label, fold
and the int8 probabilities, float16), from which the benchmark reads its
figures. Every fold must appear once, each run holding out exactly its own.
Exit codes as for ``python -m convert.release``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from convert.release.int8_prior import int8_figures
from runtime.errors import ConfigError, run_command
from train import fer2013
from train.io import atomic_path, atomic_write_json, file_sha256
from train.paths import POSED_CV_JSON, POSED_CV_NPZ
from train.recipes import posed
from train.recipes.choose import LABELS, measure


def fold_runs(runs: list[Path]) -> dict[int, Path]:
    """{fold: run}: each run's record holds out exactly one fold, and every fold once."""
    out: dict[int, Path] = {}
    for run in runs:
        if not (run / "best.keras").is_file():
            raise ConfigError(f"{run}: no best.keras; pass finished run folders")
        held = posed.record_held_out(run)
        if len(held) != 1:
            raise ConfigError(f"{run} holds out posed folds {sorted(held) or 'none'}: each run must hold out one")
        (fold,) = held
        if fold in out:
            raise ConfigError(f"{out[fold]} and {run} both hold out posed fold {fold}")
        out[fold] = run
    if set(out) != set(posed.EVERY_FOLD):
        raise ConfigError(f"posed folds {sorted(set(posed.EVERY_FOLD) - set(out))} have no run")
    return dict(sorted(out.items()))


def measure_folds(runs: dict[int, Path], faces: posed.Posed, data_arg,
                  log=print) -> tuple[dict, np.ndarray, np.ndarray]:
    """(per-fold record, int8 probabilities of every face by its fold's model, each face's fold)."""
    folds = posed.folds_of(faces)
    probs = np.zeros((len(faces.labels), len(LABELS)), np.float32)
    record = {}
    for fold, run in runs.items():
        rows = np.flatnonzero(folds == fold)
        sets = {"posed_heldout": (faces.images[rows], faces.labels[rows], faces.checksum)}
        logp, figures = int8_figures(run / "best.keras", sets, data_arg, log)
        probs[rows] = np.exp(logp["posed_heldout"])
        q = figures["posed_heldout"]
        log(f"fold {fold}: {len(rows)} faces of {len(set(faces.persons[rows].tolist()))} people, "
            f"{100 * q['accuracy']:.1f}% ({run})")
        record[str(fold)] = {"run": str(run), "sha256": file_sha256(run / "best.keras"), "faces": int(len(rows)),
                             "people": sorted(set(faces.persons[rows].tolist())), "figures": q}
    return record, probs, folds


def make(runs: list[Path], out: Path, data_arg=None, command: str = "", log=print) -> dict:
    """Write ``posed_cv.json`` and ``posed_cv.npz`` into ``out``; returns the JSON record."""
    by_fold = fold_runs(runs)
    folder = posed.default_folder(fer2013.require_data(data_arg))
    faces = posed.load(folder, LABELS)
    per_fold, probs, folds = measure_folds(by_fold, faces, data_arg, log)
    pooled = measure({"posed": probs}, {"posed": (None, faces.labels, faces.checksum)})["posed"]
    record = {"what": "each posed person read by the int8 model (the release's first route, one pass) of the "
                      "recipe run with that person's fold held out", "command": command,
              "data_checksum_sha256": faces.checksum, "faces": int(len(faces.labels)),
              "people": len(set(faces.persons.tolist())), "folds": per_fold, "pooled": pooled}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / POSED_CV_NPZ) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, names=faces.names.astype(str), labels=faces.labels.astype(np.int8),
                                folds=folds.astype(np.int8), probs=probs.astype(np.float16),
                                label_names=np.array(LABELS))
    atomic_write_json(out / POSED_CV_JSON, record)
    log(f"pooled: {100 * pooled['accuracy']:.2f}% of {record['faces']} faces of {record['people']} people; recall "
        + ", ".join(f"{k} {v:.2f}" for k, v in pooled["recall"].items()))
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.release.crossval", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="one run folder per posed fold, each holding it out")
    p.add_argument("--out", required=True,
                   help="the run folder the release converts: posed_cv.json and posed_cv.npz go there")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    a = p.parse_args(argv)
    cmd = f"python -m convert.release.crossval --runs {' '.join(a.runs)} --out {a.out}"
    return run_command(lambda: make([Path(r) for r in a.runs], Path(a.out), a.data, cmd,
                                    log=lambda m: print(m, file=sys.stderr)), extra="train")


if __name__ == "__main__":
    sys.exit(main())
