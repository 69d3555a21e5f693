"""Soft training targets: hard labels mixed with a teacher's predictions
(knowledge distillation) and/or FER+ crowd votes.

The target of Training image i is::

    t_i = (1 - w_t - w_f) * onehot(y_i) + w_t * soften(teacher_i, T) + w_f * ferplus_i

with ``soften(p, T) = p ** (1/T) / sum(p ** (1/T))`` (T > 1 flattens the
teacher, as in Hinton et al. 2015; the student is trained at T = 1 with the
loss's label smoothing on top). A row without FER+ votes over the seven
classes (no entry, not-a-face or only contempt/unknown votes) keeps the hard
label for the FER+ share; how many is recorded in the run's ``data.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from runtime.contract import NUM_CLASSES
from runtime.errors import ConfigError
from train import fer2013
from train.data import TrainData
from train.ferplus import attach
from train.io import file_sha256
from train.recipes import posed
from train.recipes.teacher import load_probs


def soften(p: np.ndarray, temperature: float) -> np.ndarray:
    """``p ** (1/T)`` renormalized per row."""
    q = np.power(np.clip(p.astype(np.float64), 1e-12, 1.0), 1.0 / temperature)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def ferplus_majority(data, folder: str | Path | None, data_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FER+ vote shares [N, 7], has-votes mask [N], majority label or -1 [N]) for every row of ``data``."""
    folder = Path(folder) if folder else Path(data_path).parent / "ferplus"
    mapping = folder / "fer2013_imagefolder_to_ferplus.csv"
    fp = attach(data, folder / "fer2013new.csv", mapping if mapping.is_file() else None)
    has = fp.soft.sum(axis=1) > 0
    has &= ~fp.not_face
    return fp.soft, has, fp.majority


def targets(cfg, data, rows: np.ndarray, data_path: Path, ferplus=None) -> tuple[np.ndarray | None, dict]:
    """Soft targets ``[len(rows), 7]`` for the rows ``rows`` of ``data`` (None when
    the config asks for hard labels only), and a summary for ``data.json``.
    ``ferplus``: :func:`ferplus_majority` of ``data`` when the caller has it already."""
    if not cfg.distill_weight and not cfg.ferplus_weight:
        return None, {}
    y = data.labels[rows]
    hard = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    t = hard * (1.0 - cfg.distill_weight - cfg.ferplus_weight)
    info: dict = {"hard_weight": round(1.0 - cfg.distill_weight - cfg.ferplus_weight, 6)}
    if cfg.distill_weight:
        probs = load_probs(cfg.teacher, data.checksum)
        if len(probs) != len(data):
            raise ConfigError(f"{cfg.teacher}: {len(probs)} rows, the data has {len(data)}")
        t += cfg.distill_weight * soften(probs[rows], cfg.distill_temperature)
        agree = float((probs[rows].argmax(1) == y).mean())
        info["teacher"] = {"path": cfg.teacher, "sha256": file_sha256(cfg.teacher), "weight": cfg.distill_weight,
                           "temperature": cfg.distill_temperature, "agrees_with_labels": round(agree, 4)}
    if cfg.ferplus_weight:
        soft, has, _ = ferplus if ferplus is not None else ferplus_majority(data, cfg.ferplus or None, data_path)
        soft, has = soft[rows], has[rows]
        crowd = np.where(has[:, None], soft, hard)
        split = has & (soft.max(axis=1) < cfg.ferplus_split)
        crowd[split] = 0.5 * soft[split] + 0.5 * hard[split]
        t += cfg.ferplus_weight * crowd
        info["ferplus"] = {"weight": cfg.ferplus_weight, "rows": int(len(rows)), "with_votes": int(has.sum()),
                           "hard_label_kept": int((~has).sum()), "split": cfg.ferplus_split,
                           "split_rows_with_half_label": int(split.sum()),
                           "majority_agrees_with_label": round(float((soft[has].argmax(1) == y[has]).mean()), 4)}
    return t.astype(np.float32), info


def recipe_data(cfg, log=print) -> TrainData:
    """FER-2013 as the lab's recipes train on it: :func:`train.fer2013.train_data`
    with the soft targets ``cfg`` asks for (:func:`targets`), and validation on
    PublicTest's FER+ majority when ``cfg.val_labels`` is ``ferplus``."""
    path = fer2013.require_data(cfg.data or None)
    data = fer2013.load(path, progress=True)
    base, rows = fer2013.split_for_run(cfg, data)
    if rows is None:
        if cfg.distill_weight or cfg.ferplus_weight:
            raise ConfigError("soft targets (teacher, FER+) need the full Training split (subset_train: 0)")
        return base
    fp = (ferplus_majority(data, cfg.ferplus or None, path)
          if cfg.ferplus_weight or cfg.val_labels == "ferplus" else None)
    t, info = targets(cfg, data, rows, path, fp)
    out = dataclasses.replace(base, targets=t, record={**base.record, "soft_targets": info})
    if cfg.val_labels == "ferplus":
        va_rows = np.flatnonzero(data.usage == fer2013.USAGE_TO_INDEX["PublicTest"])
        majority = fp[2]
        keep = va_rows[majority[va_rows] >= 0]
        out = dataclasses.replace(out, val_images=data.images[keep], val_labels=majority[keep],
                                  record={**out.record, "val_split": "PublicTest, FER+ majority"})
    return with_posed(cfg, out, path, log) if cfg.posed else out


def with_posed(cfg, data: TrainData, fer_path: Path, log=print) -> TrainData:
    """``data`` with the posed faces of ``cfg.posed`` (its people outside the held-out fold) added
    ``cfg.posed_repeat`` times (rarer labels more with ``cfg.posed_balance``; a share ``cfg.posed_hide_mouth``
    of them with the lower face hidden), one-hot targets (:mod:`train.recipes.posed`)."""
    folder = posed.default_folder(fer_path) if cfg.posed in ("1", "default") else Path(cfg.posed)
    train, held = posed.split(posed.load(folder, data.label_names), cfg.posed_folds, cfg.posed_fold)
    rows = posed.repeated_rows(train.labels, cfg.posed_repeat, cfg.posed_balance)
    ys = train.labels[rows]
    faces, hidden = posed.hide_mouth(train.images[rows], cfg.posed_hide_mouth, cfg.seed)
    x = np.concatenate([data.train_images, faces])
    y = np.concatenate([data.train_labels, ys])
    t = data.targets
    if t is not None:
        t = np.concatenate([t, np.eye(t.shape[1], dtype=np.float32)[ys]]).astype(np.float32)
    info = posed.record(train, held, rows, data.label_names, cfg)
    log(f"posed: {info['train_faces']} faces of {info['train_people']} people, {len(rows)} rows "
        f"({int(hidden.sum())} with the mouth hidden); "
        f"held out {info['held_out_faces']} faces of {len(info['held_out_people'])} people (fold {cfg.posed_fold})")
    return dataclasses.replace(data, train_images=x, train_labels=y, targets=t,
                               record={**data.record, "posed": info})
