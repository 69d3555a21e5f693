"""Evaluate a finished run: accuracy tables, plots, and the inference model.

Writes into the run folder:

* ``model.keras``: the best epoch rebuilt as an inference model by the current
  builder (no optimizer state), with ``model.json`` beside it (its accuracy,
  config and data checksum; the converter copies the accuracy into metadata);
* ``report.json`` / ``report.md``: PublicTest, PrivateTest and clean
  PrivateTest accuracy, macro-F1, per-class precision/recall/F1, ECE;
* ``history.png``, ``confusion_PublicTest.png``, ``confusion_PrivateTest.png``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np

from runtime.contract import LABELS
from runtime.errors import DataError, OutputError

from . import fer2013, plots
from .audit import evaluation_masks
from .config import TrainConfig, save
from .io import atomic_path, atomic_write_json, atomic_write_text
from .loop import make_schedule, model_kwargs
from .metrics import summarize
from .paths import POSED_CV_JSON, POSED_CV_NPZ
from .model import build_model, custom_objects

PUBLISHED = {"paper": 0.4268}
#: the files that document a finished run (copied next to released or reported results)
RECORD = ("config.yaml", "data.json", "history.csv", "history.json", "history.png", "report.json", "report.md",
          "confusion_PublicTest.png", "confusion_PrivateTest.png", "train.log", "soup.json",
          "prior.json", "blend.json", POSED_CV_JSON, POSED_CV_NPZ)


def copy_record(run: Path, dest: Path) -> list[str]:
    """Copy the run's record files (not its weights) into ``dest``; returns their names."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for f in RECORD:
        if (run / f).is_file():
            shutil.copy2(run / f, dest / f)
            copied.append(f)
    return copied


def save_run(out: Path, cfg: TrainConfig, model, records: dict[str, dict]) -> None:
    """A run folder made from a finished model (a soup, a blend): ``config.yaml``, the model as ``best.keras``
    and ``model.keras``, and each JSON record of ``records`` ({file name: content}); each file written whole.

    Raises:
        runtime.errors.OutputError: the folder or a file cannot be written.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        save(cfg, out / "config.yaml")
        for name in ("best.keras", "model.keras"):
            with atomic_path(out / name, suffix=".keras") as tmp:
                model.save(tmp)
        for name, content in records.items():
            atomic_write_json(out / name, content)
    except OSError as e:
        raise OutputError(f"cannot write {getattr(e, 'filename', None) or out}: {e.strerror or e}") from None


def inference_model(cfg: TrainConfig, weights_from: Path):
    """The model as the current builder makes it, with the weights of ``weights_from``.

    Layers are matched by name, so a checkpoint from an earlier layout of the
    preprocessing layers (which hold no trained weights) loads into the current one.
    """
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here


    make_schedule(cfg, 1)     # registers the schedule class the checkpoint names
    src = keras.models.load_model(weights_from, compile=False, custom_objects=custom_objects())
    dst = build_model(**model_kwargs(cfg))
    names = {l.name for l in src.layers}
    for layer in dst.layers:
        if (layer.weights and layer.name in names and src.get_layer(layer.name).weights
                and layer.name not in ("normalize", "imagenet_norm")):
            layer.set_weights(src.get_layer(layer.name).get_weights())
    # The rebuilt model must compute what the checkpoint computes.
    x = np.random.default_rng(0).integers(0, 256, (8,) + tuple(src.inputs[0].shape[1:])).astype(np.float32)
    diff = float(np.abs(src.predict(x, verbose=0) - dst.predict(x, verbose=0)).max())
    if diff > 1e-4:
        raise ValueError(f"rebuilt model differs from {weights_from} by {diff:.2e}")
    return dst, src


def evaluate_splits(model, data, channels: int = 1) -> dict:
    out = {}
    for name, mask in evaluation_masks(data).items():
        x = data.images[mask][..., None].astype(np.float32)
        if channels == 3:
            x = np.repeat(x, 3, axis=-1)
        p = model.predict(x, batch_size=256, verbose=0)
        out[name] = summarize(data.labels[mask], p)
    return out


def markdown(cfg: TrainConfig, results: dict, meta: dict) -> str:
    lines = [f"# Run report: {cfg.recipe}", "",
             f"Run folder `{cfg.out}`; data sha256 `{meta['data_checksum_sha256']}`; "
             f"{meta['epochs_trained']} epochs, {meta['train_minutes']:.0f} min on {meta['hardware']}.", "",
             "| split | images | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['n']} | {100 * r['accuracy']:.2f}% | {100 * r['macro_f1']:.2f}% | {r['ece']:.3f} |")
    if cfg.recipe in PUBLISHED:
        lines += ["", f"Published accuracy of this recipe: {100 * PUBLISHED[cfg.recipe]:.2f}%."]
    lines += ["", "Per class on PrivateTest:", "", "| class | precision | recall | F1 | support |",
              "|---|---|---|---|---|"]
    for c in LABELS:
        v = results["PrivateTest"]["per_class"][c]
        lines.append(f"| {c} | {100 * v['precision']:.1f}% | {100 * v['recall']:.1f}% | {100 * v['f1']:.1f}% "
                     f"| {v['support']} |")
    return "\n".join(lines) + "\n"


def write(cfg: TrainConfig) -> dict:
    """Evaluate the best checkpoint of ``cfg.out`` and write the report files."""
    out = Path(cfg.out)
    best = out / "best.keras"
    if not best.is_file():
        raise DataError(f"{out}: no best.keras; train first")
    path = fer2013.find_data(cfg.data or None)
    if path is None:
        raise DataError("FER-2013 not found: pass --data PATH or set FER_DATA")
    data = fer2013.load(path)
    model, _ = inference_model(cfg, best)
    results = evaluate_splits(model, data, cfg.channels)
    rows = json.loads((out / "history.json").read_text()) if (out / "history.json").is_file() else []
    meta = {"data_checksum_sha256": data.checksum, "epochs_trained": len(rows),
            "best_epoch": int(max(rows, key=lambda r: r["val_accuracy"])["epoch"]) if rows else None,
            "train_minutes": sum(r.get("seconds", 0) for r in rows) / 60.0,
            "hardware": f"{platform.machine()} {platform.processor() or ''} ({_cpu_count()} cores), "
                        f"{platform.system()}".replace("  ", " ")}
    report = {"recipe": cfg.recipe, "config": cfg.to_dict(), **meta, "results": results}
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", markdown(cfg, results, meta))
    if rows:
        plots.history(rows, out / "history.png", f"{cfg.recipe}: MobileNetV2 a={cfg.alpha} {cfg.image_size}px")
    for split in ("PublicTest", "PrivateTest"):
        plots.confusion(results[split]["confusion"], out / f"confusion_{split}.png",
                        f"{split}: accuracy {100 * results[split]['accuracy']:.2f}%")
    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    atomic_write_json(out / "model.json", {
        "recipe": cfg.recipe, "data_checksum_sha256": data.checksum,
        "accuracy": {k: round(v["accuracy"], 4) for k, v in results.items()},
        "macro_f1": {k: round(v["macro_f1"], 4) for k, v in results.items()}})
    print(markdown(cfg, results, meta))
    return report


def _cpu_count() -> int:
    return os.cpu_count() or 0
