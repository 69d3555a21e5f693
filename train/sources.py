"""Which source a run's data comes from: a user's folder or FER-2013 (both give a :class:`train.data.TrainData`)."""

from __future__ import annotations

from pathlib import Path

from runtime.errors import DataError

from . import fer2013, user_folder
from .data import TrainData


def is_user_folder(path) -> bool:
    """Whether ``path`` is a folder of a user's labelled photos rather than FER-2013."""
    return bool(path) and Path(path).is_dir() and not user_folder.is_fer2013(path)


def trains_on_user_folder(cfg) -> bool:
    """Whether the run ``cfg`` describes trains on a user's folder (preset ``own``, or ``data`` is one)."""
    return cfg.recipe == "own" or is_user_folder(cfg.data)


def check_exists(cfg) -> None:
    """DataError naming both layouts (a user's first) when ``cfg.data`` does not exist."""
    if cfg.data and not Path(cfg.data).exists():
        raise DataError(f"{cfg.data}: no such folder or file; --data takes your photos as DIR/<label>/<image>, "
                        "or FER-2013 (its image-folder root with train/ and test/, or fer2013.csv)")


def for_run(cfg, log=print) -> TrainData:
    """The data ``cfg`` trains on: the user's folder ``cfg.data``, else FER-2013 with its hard labels."""
    check_exists(cfg)
    if trains_on_user_folder(cfg):
        return user_folder.train_data(cfg, log)
    return fer2013.train_data(cfg)
