"""Choosing a small set's recipe and epoch count by k-fold cross-validation, then training on all of it.

A validation split of a few dozen faces cannot choose between recipes or
epoch counts: one face is two points. Here every face validates once: the
folder is cut into ``folds`` parts (whole people with ``--group``, else images
stratified by label), each recipe trains on all parts but one and predicts
the one left out after every epoch, and the held-out predictions of all parts
together give each (recipe, epoch) one accuracy on every face. Epoch 0 is the
starting model (:mod:`train.warm_start`), so "no fine-tuning" is one of the
choices. The best pair (ties: fewer epochs, then the earlier recipe) then
trains on every face; with epoch 0 the run keeps the starting model.

The run folder gets what a run on a split gets (``best.keras``,
``labels.json``, ``split.json`` with every face and its fold, ``config.yaml``,
``history.json`` of the chosen recipe's held-out accuracy by epoch,
``data.json``, ``train.log``, ``start.json`` with the starting model's held-out
accuracy and the labels it knew) and ``choice.json`` (every recipe's accuracy
by epoch, the choice) and ``cross_validation.npz`` (the held-out
probabilities of the chosen pair and of the starting model, which the report
reads and on which conversion fits the calibration temperature).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from runtime.errors import OutputError

from . import config as config_mod
from . import loop
from .config import TrainConfig
from .io import atomic_path, atomic_write_json, file_sha256
from .saved import LABELS_FILE, model_input
from .user_folder import FolderData, groups_of

CV_FILE = "cross_validation.npz"


def folds(data: FolderData, k: int, seed: int, group: str | None) -> list[np.ndarray]:
    """The validation indices of each fold: whole people (``group``) balanced by face count, or images
    stratified by label. At most ``k`` folds, fewer when there are fewer people."""
    rng = np.random.default_rng(seed)
    n = len(data)
    fold_of = np.zeros(n, np.int64)
    if group:
        g = groups_of(data.names, group)
        people = rng.permutation(np.unique(g))
        k = min(k, len(people))
        load = np.zeros(k)
        for p in sorted(people, key=lambda u: -int((g == u).sum())):     # stable: ties keep the shuffled order
            f = int(np.argmin(load))
            fold_of[g == p] = f
            load[f] += (g == p).sum()
    else:
        k = min(k, n)
        start = 0
        for c in range(len(data.label_names)):
            idx = rng.permutation(np.flatnonzero(data.labels == c))
            fold_of[idx] = (start + np.arange(len(idx))) % k
            start = (start + len(idx)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def _predict(model, faces: np.ndarray) -> np.ndarray:
    return model.predict(model_input(model, faces), batch_size=128, verbose=0) if len(faces) else np.zeros((0, 0))


def train_curve(cfg: TrainConfig, x_tr, y_tr, x_va, epochs: int, log=print):
    """Train ``cfg``'s recipe from the warm start on ``(x_tr, y_tr)`` for ``epochs`` epochs; returns the
    probabilities on ``x_va`` after each epoch, the starting model's first, the model, and which labels
    kept the starting model's rows (:func:`train.warm_start.warm_head`)."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    warm = {}
    model = loop.build_initialized(cfg, warm)
    curve = [_predict(model, x_va)]
    k = len(cfg.label_names)
    cw = loop.class_weights(y_tr, cfg.class_weight_power, k)
    steps = int(np.ceil(len(x_tr) / cfg.batch_size))
    if epochs and cfg.head_epochs and warm.get("new"):
        loop.head_first(model, cfg, loop.get_strategy("default"), x_tr, y_tr, None, cw, steps, log)
    if epochs:
        loop.compile_model(model, cfg, steps)
    for e in range(epochs):
        model.fit(loop.epoch_dataset(x_tr, y_tr, cfg, e, augment=True), epochs=1, class_weight=cw, verbose=0)
        curve.append(_predict(model, x_va))
    return curve, model, warm


def choose(table: dict[str, list[float]], names: list[str]) -> tuple[str, int]:
    """The (recipe, epoch) with the best held-out accuracy; ties: fewer epochs, then the earlier recipe."""
    pairs = [(acc, -e, -names.index(n), n, e) for n in names for e, acc in enumerate(table[n])]
    best = max(pairs)
    return best[3], best[4]


def run(cfg: TrainConfig, data: FolderData, names: list[str], configs: dict[str, TrainConfig], log=print) -> dict:
    """Cross-validate ``names`` (their configs ``configs``) on ``data``, train the choice on all of it into
    ``cfg.out``. Returns the choice: ``{"how", "folds", "results" {recipe: accuracy, epoch, by_epoch},
    "chosen", "epochs", "seconds"}``."""
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    log = loop.tee(log, out / "train.log")
    parts = folds(data, cfg.folds, cfg.seed, cfg.group or None)
    y = data.labels
    by = f"{len(parts)} folds over " + ("people (--group)" if cfg.group else "images, stratified by label")
    log(f"{len(data)} faces: the validation split would be too small to choose on; cross-validating "
        f"{', '.join(names)} ({by}), epoch 0 = the starting model")
    held = {n: np.zeros((configs[n].epochs + 1, len(y), len(data.label_names)), np.float32) for n in names}
    t0 = time.time()
    for f, va in enumerate(parts):
        tr = np.setdiff1d(np.arange(len(y)), va)
        for n in names:
            curve, _, _ = train_curve(configs[n], data.images[tr], y[tr], data.images[va], configs[n].epochs, log)
            for e, p in enumerate(curve):
                held[n][e, va] = p
            log(f"fold {f + 1}/{len(parts)} ({len(va)} faces) {n}: accuracy by epoch "
                + " ".join(f"{100 * (p.argmax(1) == y[va]).mean():.0f}" for p in curve)
                + f" ({(time.time() - t0) / 60:.1f} min)")
    table = {n: [float((held[n][e].argmax(1) == y).mean()) for e in range(configs[n].epochs + 1)] for n in names}
    chosen, epochs = choose(table, names)
    log(f"chosen: recipe {chosen}, {epochs} epochs (held-out accuracy {100 * table[chosen][epochs]:.1f}%; "
        f"the starting model {100 * table[chosen][0]:.1f}%)"
        + ("; no recipe beat the starting model: the run keeps it" if epochs == 0 else ""))
    _, model, warm = train_curve(configs[chosen], data.images, y, data.images[:0], epochs, log)
    _write(out, cfg, data, parts, model, held[chosen][epochs], held[chosen][0])
    loop.write_start(out, table[chosen][0], warm)       # the start's held-out accuracy, as a split run records it
    log(f"trained on all {len(y)} faces")
    results = {n: {"val_accuracy": max(table[n]), "epoch": int(np.argmax(table[n])), "by_epoch": table[n]}
               for n in names}
    results[chosen].update(val_accuracy=table[chosen][epochs], epoch=epochs)
    return {"how": f"cross-validation, {by}", "folds": len(parts), "results": results, "chosen": chosen,
            "epochs": epochs, "seconds": round(time.time() - t0, 1)}


def _write(out: Path, cfg: TrainConfig, data: FolderData, parts, model, chosen_probs, start_probs) -> None:
    fold = np.zeros(len(data), np.int64)
    for f, va in enumerate(parts):
        fold[va] = f
    files = [[str(n), data.label_names[int(c)], int(f)] for n, c, f in zip(data.names, data.labels, fold)]
    labels = list(data.label_names)
    split = {"data": str(Path(cfg.data).resolve()), "val_data": "", "detect": bool(cfg.detect), "labels": labels,
             "data_checksum_sha256": data.checksum, "val_checksum_sha256": data.checksum,
             "how": "cross_validation", "train": len(data), "val": len(data), "folds": len(parts),
             "per_label": {n: {"train": int((data.labels == i).sum()), "val": int((data.labels == i).sum())}
                           for i, n in enumerate(labels)},
             **({"groups": {"train": len(np.unique(groups_of(data.names, cfg.group))), "val": 0,
                            "pattern": cfg.group}} if cfg.group else {}),
             "problems": {"train_folder": data.problems}, "counts": data.counts,
             "train_files": [x[:2] for x in files], "val_files": [x[:2] for x in files], "fold_of_file": files}
    atomic_write_json(out / LABELS_FILE, {"labels": labels})
    atomic_write_json(out / "split.json", split)
    with atomic_path(out / "best.keras", suffix=".keras") as tmp:
        model.save(tmp)
    with atomic_path(out / CV_FILE, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, chosen=chosen_probs, start=start_probs, labels=data.labels)
    config_mod.save(cfg, out / "config.yaml")
    atomic_write_json(out / "data.json", {"data_checksum_sha256": data.checksum, "train": len(data), "val": 0,
                                          "val_split": "cross-validation: choice.json", "skipped": data.skipped,
                                          "init_sha256": file_sha256(loop.resolve_init(cfg.init))})


def held_out(run: Path) -> dict | None:
    """The held-out probabilities of a cross-validated run (``chosen``, ``start``, ``labels``), or None."""
    f = Path(run) / CV_FILE
    if not f.is_file():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in ("chosen", "start", "labels")}
