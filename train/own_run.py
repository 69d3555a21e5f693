"""A run on a user's folder: the recipe that fits the data's size, chosen on validation, never worse than its start.

    python -m train --data my_faces/ --out runs/mine --group '^(S[0-9]+)_'

Every run starts from the bundled release model with its head rows kept for
the labels it knows (:mod:`train.warm_start`) and measures that starting
model before any step: the floor. Then, by the size of the training folder:

* **small** (under :data:`MIDDLE_FACES` faces): two candidate recipes,
  :data:`CANDIDATES` ``top`` (the last blocks and the head, lr 1e-4) and
  ``all_slow`` (every layer, lr 2e-5), both with BatchNorm frozen, stronger
  augmentation and more head epochs for new labels, at most
  :data:`SMALL_EPOCHS` epochs;
* **middle** (under :data:`LARGE_FACES`): those two, ``all`` (the preset as it
  is: every layer, lr 1e-4, early stopping) and ``all_light`` (the same with
  flips as the only augmentation and 5 head epochs for new labels);
* **large**: ``all`` alone.

The recipe and the epoch count are chosen on the validation split. When that
split is too small to choose on (under :data:`CV_FACES` faces, or under
:data:`CV_PEOPLE` people with ``--group``), they are chosen by k-fold
cross-validation instead (``folds``, over people with ``--group``, else over
images stratified by label; :mod:`train.cross_val`), epoch 0 (the starting
model) included, and the chosen recipe then trains on every face for the
chosen number of epochs. When no recipe and epoch count beats the starting
model, the run keeps the starting model and says so.

``--set own_recipe=top|all_slow|all|all_light`` names one recipe (``all``: the preset and
``--set`` values as they are); ``--set folds=0`` never cross-validates.
The choice is recorded in ``choice.json``; the report (``report.md``) gives
the verdict (:mod:`train.user_folder_report`).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError

from . import config as config_mod
from . import cross_val, distributed, loop, user_folder
from .config import TrainConfig
from .io import atomic_write_json

#: from this many training faces on, the preset's own recipe (``all``) and its lighter-augmented variant
#: (``all_light``) are candidates beside the small-set ones
MIDDLE_FACES = 300
#: from this many training faces on, ``all`` alone (training each candidate would take too long on a CPU)
LARGE_FACES = 5000
#: the most epochs a small-set recipe trains (``--epochs`` lowers it)
SMALL_EPOCHS = 10
#: a validation split under this many faces (or people) is too small to choose on: cross-validate
CV_FACES, CV_PEOPLE = 50, 3
#: what a small set changes: BatchNorm as the release left it, stronger augmentation, more head epochs
SMALL = {"freeze_bn": True, "head_epochs": 5, "rotate_deg": 15.0, "zoom": 0.15, "shift": 0.1,
         "erase_prob": 0.4, "patience": 0}
#: the recipes by name: the settings each puts over the run's config
CANDIDATES = {
    "top": {"trainable_from": 13, "lr": 1e-4, **SMALL},
    "all_slow": {"trainable_from": 0, "lr": 2e-5, **SMALL},
    "all": {},
    # the plain fine-tune of issue #38 (flips only, a longer head phase): 96.4% where "all" gave 91.9% on posed crops
    "all_light": {"rotate_deg": 0.0, "zoom": 0.0, "shift": 0.0, "erase_prob": 0.0, "head_epochs": 5},
}
CHOICE_FILE = "choice.json"


def candidates(cfg: TrainConfig, n_train: int) -> list[str]:
    """The recipes a run on ``n_train`` training faces chooses among."""
    if cfg.own_recipe != "auto":
        return [cfg.own_recipe]
    names = (["top", "all_slow"] if n_train < MIDDLE_FACES else ["top", "all_slow", "all", "all_light"]
             if n_train < LARGE_FACES else ["all"])
    # the workers of a multi-worker run train one model together: the first recipe alone
    return names[:1] if cfg.strategy == "multiworker" else names


def recipe_config(cfg: TrainConfig, name: str, out: Path | None = None) -> TrainConfig:
    """``cfg`` with recipe ``name``'s settings, except those the user set (``cfg.user_set``); a small-set
    recipe trains at most :data:`SMALL_EPOCHS` unless the user set ``epochs``."""
    mine = set(filter(None, cfg.user_set.split(",")))
    c = dataclasses.replace(cfg, **{k: v for k, v in CANDIDATES[name].items() if k not in mine})
    if name in ("top", "all_slow") and "epochs" not in mine:
        c.epochs = min(cfg.epochs, SMALL_EPOCHS)
    if out is not None:
        c.out = str(out)
    return c.validate()


def cross_validates(cfg: TrainConfig, info: dict) -> bool:
    """Whether the validation split ``info`` (:func:`train.user_folder.split`) is too small to choose on."""
    if cfg.folds < 2 or cfg.val_data or cfg.strategy == "multiworker":
        return False
    people = (info.get("groups") or {}).get("val")
    return info["val"] < CV_FACES or (people is not None and people < CV_PEOPLE)


def run(cfg: TrainConfig, resume: bool = False, log=print) -> Path:
    """Train on the user's folder ``cfg.data`` into ``cfg.out``; returns the run folder."""
    out = Path(cfg.out)
    data = user_folder.load(cfg.data, cfg.label_names, cfg.detect, log=log)
    user_folder.check_faces(data)
    cfg.labels = ",".join(data.label_names)
    tr, va, info = user_folder.for_run(cfg, log, data=data)
    names = candidates(cfg, len(tr))
    if cross_validates(cfg, info):
        if (out / CHOICE_FILE).is_file() and not resume:
            raise ConfigError(f"{out} holds an earlier run: add --resume to run it again, or pick another --out")
        configs = {n: recipe_config(cfg, n) for n in names}
        got = cross_val.run(cfg, data, names, configs, log)
        rc = configs[got["chosen"]]
        atomic_write_json(out / CHOICE_FILE, choice_record(got["how"], names, got["results"], got["chosen"], rc,
                                                           folds=got["folds"], seconds=got["seconds"]))
        everything = user_folder.as_train_data(cfg, data, data, info)
        _optimize(recipe_config(cfg, got["chosen"], out), everything, log)
        return out
    train = user_folder.as_train_data(cfg, tr, va, info)
    if len(names) == 1:
        rc = recipe_config(cfg, names[0], out)
        path = loop.run(rc, train, resume=resume, log=log)
        task = distributed.read_tf_config() if cfg.strategy == "multiworker" else None
        if task is None or task.is_chief:        # the chief alone writes the run's record
            atomic_write_json(out / CHOICE_FILE, choice_record("validation split", names, {names[0]: _best(out)},
                                                               names[0], rc))
        return path
    return _choose_on_split(cfg, train, names, resume, log)


def _best(run: Path) -> dict:
    """The best validation accuracy of a finished run folder, and its epoch (0: the starting model)."""
    rows = loop.history_rows(run)
    start = (loop.read_start(run) or {}).get("val_accuracy")
    best_row = max(rows, key=lambda r: r["val_accuracy"]) if rows else None
    if best_row is None or (start is not None and best_row["val_accuracy"] <= start):
        return {"val_accuracy": start, "epoch": 0}
    return {"val_accuracy": best_row["val_accuracy"], "epoch": int(best_row["epoch"])}


def _choose_on_split(cfg: TrainConfig, train, names: list[str], resume: bool, log) -> Path:
    """Train each recipe on the split in ``RUN/candidates/<name>``; the best on validation becomes the run."""
    out = Path(cfg.out)
    results = {}
    for name in names:
        log(f"recipe {name}: {_describe(name)}")
        rc = dataclasses.replace(recipe_config(cfg, name, out / "candidates" / name), qat_epochs=0, prune_epochs=0)
        loop.run(rc, train, resume=resume, log=log)
        results[name] = _best(out / "candidates" / name)
    chosen = max(names, key=lambda n: (results[n]["val_accuracy"] or 0.0, -names.index(n)))
    src = out / "candidates" / chosen
    for f in ("best.keras", "history.json", "history.csv", "data.json", "start.json", "train.log",
              *train.files):
        if (src / f).is_file():
            shutil.copy2(src / f, out / f)
    config_mod.save(cfg, out / "config.yaml")
    atomic_write_json(out / CHOICE_FILE, choice_record("validation split", names, results, chosen,
                                                       recipe_config(cfg, chosen)))
    log(f"chosen on validation: recipe {chosen} ("
        + "; ".join(f"{n} {100 * (r['val_accuracy'] or 0):.1f}% at epoch {r['epoch']}" for n, r in results.items())
        + ")")
    _optimize(recipe_config(cfg, chosen, out), train, log)
    return out


def _optimize(rc: TrainConfig, data, log) -> None:
    """Pruning and QAT (``prune_epochs``, ``qat_epochs``) of the run's kept model, on the user's faces."""
    if rc.prune_epochs:
        loop.finetune_step(rc, data, "prune", log)
    if rc.qat_epochs:
        loop.finetune_step(rc, data, "qat", log)


def _describe(name: str) -> str:
    return {"top": "the last blocks and the head, lr 1e-4", "all_slow": "every layer, lr 2e-5",
            "all": "every layer, as the preset and --set say",
            "all_light": "every layer as the preset says, flips as the only augmentation"}[name]


def choice_record(how: str, names: list[str], results: dict, chosen: str, rc: TrainConfig, **extra) -> dict:
    """What ``choice.json`` keeps: how the recipe and epoch count were chosen, every candidate's figure."""
    return {"how": how, "candidates": {n: {"settings": CANDIDATES[n], **results[n]} for n in names},
            "chosen": chosen, "epochs": results[chosen]["epoch"],
            "kept": "starting model" if results[chosen]["epoch"] == 0 else "fine-tuned model",
            "config": {k: getattr(rc, k) for k in ("lr", "trainable_from", "freeze_bn", "head_epochs", "epochs")},
            **extra}


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean()) if len(labels) else 0.0
