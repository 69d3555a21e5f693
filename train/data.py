"""What a training run learns from, whatever its source.

Two sources give the same :class:`TrainData` (:mod:`train.sources` picks one):

* a user's folder ``DIR/<label>/<image>`` (:func:`train.user_folder.train_data`):
  faces found the way ``fer-infer`` finds them, split by image or by person;
* FER-2013 (:func:`train.fer2013.train_data`): Training trains, PublicTest validates.

The loop (:mod:`train.loop`) reads a ``TrainData`` and nothing else. A recipe
of the lab that trains on soft targets (FER+ votes, a teacher's predictions:
:mod:`train.recipes.soft_targets`) hands the loop the same type with
``targets`` set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainData:
    """Faces, labels and split of one training run.

    Attributes:
        train_images, val_images: uint8 ``[N, S, S]`` face crops.
        train_labels, val_labels: int64 ``[N]``, index into ``label_names``.
        label_names: the labels in the model's output order.
        checksum: sha256 of the inputs the faces came from.
        train_groups: the person of each training face (``--group``), or None.
        targets: soft targets ``[N, K]`` for the training faces (None: the hard labels).
        record: how the data was read and split, for the run's ``data.json``.
        files: JSON records the run folder keeps beside the model, by file name
            (a user's folder: ``labels.json`` and ``split.json``).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    label_names: tuple[str, ...]
    checksum: str
    train_groups: np.ndarray | None = None
    targets: np.ndarray | None = None
    record: dict = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
