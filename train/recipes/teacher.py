"""``python -m train.recipes.teacher``: an ensemble teacher for distillation.

Averages the flip-averaged probabilities of several finished float models
(run folders or ``.keras`` files) over every FER-2013 image, reports each
member's and the ensemble's accuracy (PublicTest, PrivateTest, clean
PrivateTest), and writes the teacher's predictions as a compact record::

    python -m train.recipes.teacher --runs runs/a runs/b models/fer_mobilenetv2.keras \\
        --out models/records/teacher --data PATH

    teacher.npz      probs float16 [N, 7], the rows of ``fer2013.load(PATH)``
                     in its order, with the data checksum
    teacher.json     members (path, sha256, image size), figures, the npz's sha256
    TEACHER.md       the same as a table

The teacher never ships; a student reads ``teacher.npz`` through the training
config (``teacher: models/records/teacher/teacher.npz``, see :mod:`train.recipes.soft_targets`).
Exit codes as for ``python -m train``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from runtime.contract import NUM_CLASSES
from runtime.errors import ConfigError, DataError, run_command
from train import fer2013
from train.audit import clean_mask
from train.fer2013 import USAGE_TO_INDEX
from train.io import atomic_path, atomic_write_json, atomic_write_text, file_sha256
from train.saved import load_keras_model, model_input

SPLITS = ("PublicTest", "PrivateTest", "PrivateTest_clean")


def member_path(p: str | Path) -> Path:
    """The float model of a run folder (``model.keras`` or ``best.keras``) or a ``.keras`` file."""
    p = Path(p)
    if p.is_dir():
        for name in ("model.keras", "best.keras"):
            if (p / name).is_file():
                return p / name
        raise ConfigError(f"{p}: no model.keras or best.keras in this run folder")
    if p.suffix != ".keras" or not p.is_file():
        raise ConfigError(f"{p}: not a run folder or a .keras model")
    return p


def flip_probs(model, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """Mean of the model's probabilities on the crops and on their mirror images."""
    x = model_input(model, images)
    p = model.predict(x, batch_size=batch, verbose=0)
    q = model.predict(x[:, :, ::-1], batch_size=batch, verbose=0)
    return (p + q) / 2.0


def split_masks(data) -> dict[str, np.ndarray]:
    """Boolean masks over ``data``'s rows for the report splits."""
    masks = {s: data.usage == USAGE_TO_INDEX[s] for s in ("Training", "PublicTest", "PrivateTest")}
    masks["PrivateTest_clean"] = clean_mask(data) & masks["PrivateTest"]
    return masks


def figures(probs: np.ndarray, labels: np.ndarray, masks: dict) -> dict[str, float]:
    pred = probs.argmax(1)
    return {s: round(100.0 * float((pred[masks[s]] == labels[masks[s]]).mean()), 2) for s in SPLITS}


def build(members: list[str], data_path=None, log=print) -> tuple[np.ndarray, dict]:
    """(teacher probabilities over all rows, report) for the member models."""
    path = fer2013.find_data(data_path)
    if path is None:
        raise DataError("FER-2013 not found: pass --data PATH or set FER_DATA")
    data = fer2013.load(path)
    masks = split_masks(data)
    total = np.zeros((len(data), NUM_CLASSES), np.float64)
    rows = []
    for m in members:
        mp = member_path(m)
        model = load_keras_model(mp)
        p = flip_probs(model, data.images)
        total += p
        row = {"path": str(m), "model": str(mp), "sha256": file_sha256(mp),
               "image_size": int(model.get_layer("resize").output_shape[1]) if "resize" in
               {layer.name for layer in model.layers} else int(model.inputs[0].shape[1]),
               "flip": figures(p, data.labels, masks)}
        rows.append(row)
        log(f"{m}: flip-averaged {row['flip']}")
    probs = total / len(members)
    report = {"members": rows, "ensemble": figures(probs, data.labels, masks), "flip": True,
              "data_checksum_sha256": data.checksum, "rows": int(len(data)),
              "protocol": "members chosen on PublicTest by their runs; nothing chosen on PrivateTest"}
    log(f"ensemble of {len(members)}: {report['ensemble']}")
    return probs, report


def write(probs: np.ndarray, report: dict, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    npz = out / "teacher.npz"
    with atomic_path(npz, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, probs=probs.astype(np.float16),
                                data_checksum=np.array(report["data_checksum_sha256"]))
    report = dict(report, command=command, npz="teacher.npz", npz_sha256=file_sha256(npz))
    atomic_write_json(out / "teacher.json", report)
    lines = ["# Teacher (never ships)", "", f"Command: `{command}`", "",
             "Flip-averaged accuracy (%), each member and the mean of their probabilities:", "",
             "| model | image size | " + " | ".join(SPLITS) + " |", "|---|---|" + "---|" * len(SPLITS)]
    for r in report["members"]:
        lines.append(f"| `{r['path']}` | {r['image_size']} | " + " | ".join(f"{r['flip'][s]:.2f}" for s in SPLITS) + " |")
    lines.append("| **ensemble** | | " + " | ".join(f"**{report['ensemble'][s]:.2f}**" for s in SPLITS) + " |")
    lines += ["", f"`teacher.npz` (sha256 `{report['npz_sha256']}`): float16 probabilities for all "
              f"{report['rows']} rows of the data with checksum `{report['data_checksum_sha256']}`, in "
              "`train.fer2013.load` order."]
    atomic_write_text(out / "TEACHER.md", "\n".join(lines) + "\n")


def load_probs(path: str | Path, checksum: str) -> np.ndarray:
    """The teacher's probabilities, checked against the data they were made from."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"teacher predictions not found: {p} (make them with python -m train.recipes.teacher)")
    try:
        with np.load(p) as z:
            probs, made_from = z["probs"].astype(np.float32), str(z["data_checksum"])
    except Exception as e:  # noqa: BLE001 - any unreadable file is a config error
        raise ConfigError(f"{p}: not a teacher file ({e.__class__.__name__})") from None
    if made_from != checksum:
        raise ConfigError(f"{p} was made from data {made_from[:12]}..., not this data ({checksum[:12]}...)")
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ConfigError(f"{p}: probabilities of shape {probs.shape}, expected [N, {NUM_CLASSES}]")
    return probs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.recipes.teacher", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="run folders or .keras models")
    p.add_argument("--out", required=True, help="folder for teacher.npz, teacher.json, TEACHER.md")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    a = p.parse_args(argv)

    def body():
        probs, report = build(a.runs, a.data, log=lambda m: print(m, file=sys.stderr))
        command = "python -m train.recipes.teacher --runs " + " ".join(a.runs) + f" --out {a.out}"
        write(probs, report, Path(a.out), command)

    return run_command(body, interrupted="interrupted; nothing written", extra="train")


if __name__ == "__main__":
    sys.exit(main())
