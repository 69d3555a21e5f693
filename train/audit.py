"""Leakage audit: test images whose pixels duplicate a training image.

``python -m train.audit [--data PATH] [--json]`` prints, per split, how many
images have a pixel-identical copy in Training, how many duplicate groups carry
conflicting labels, and the size of the "clean" test splits without them.
Reported accuracies come in two forms: the standard PrivateTest figure and the
clean PrivateTest figure (see :func:`clean_mask`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict

import numpy as np

from runtime.errors import DataError

from . import fer2013
from .fer2013 import USAGE_TO_INDEX, USAGES, FerData


def pixel_hashes(data: FerData) -> np.ndarray:
    return np.asarray([hashlib.sha1(img.tobytes()).hexdigest() for img in data.images])


def audit(data: FerData) -> dict:
    """Duplicate statistics and the clean masks (``dup_of_train`` per row)."""
    h = pixel_hashes(data)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(h):
        groups[k].append(i)
    dup_groups = {k: v for k, v in groups.items() if len(v) > 1}
    train_idx = USAGE_TO_INDEX["Training"]
    train_hashes = set(h[data.usage == train_idx])
    dup_of_train = np.array([u != train_idx and k in train_hashes for k, u in zip(h, data.usage)])
    conflicting = [v for v in dup_groups.values() if len(set(data.labels[v].tolist())) > 1]
    cross = [v for v in dup_groups.values() if len(set(data.usage[v].tolist())) > 1]
    report = {
        "images": int(len(data)),
        "duplicate_groups": len(dup_groups),
        "files_in_duplicate_groups": int(sum(len(v) for v in dup_groups.values())),
        "groups_across_splits": len(cross),
        "groups_with_conflicting_labels": len(conflicting),
        "test_duplicates_of_training": {u: int(dup_of_train[data.usage == USAGE_TO_INDEX[u]].sum())
                                        for u in USAGES if u != "Training"},
        "clean_sizes": {u: int(((data.usage == USAGE_TO_INDEX[u]) & ~dup_of_train).sum())
                        for u in USAGES if u != "Training"},
        "near_constant_images": int((data.images.reshape(len(data), -1).std(axis=1) < 2).sum()),
    }
    return {"report": report, "dup_of_train": dup_of_train}


def clean_mask(data: FerData) -> np.ndarray:
    """True for rows that do not duplicate any Training image's pixels."""
    return ~audit(data)["dup_of_train"]


def evaluation_masks(data: FerData) -> dict[str, np.ndarray]:
    """Row masks of the splits every report quotes: PublicTest, PrivateTest and
    the clean PrivateTest (without pixel duplicates of Training images)."""
    clean = clean_mask(data)
    return {"PublicTest": data.usage == USAGE_TO_INDEX["PublicTest"],
            "PrivateTest": data.usage == USAGE_TO_INDEX["PrivateTest"],
            "PrivateTest_clean": (data.usage == USAGE_TO_INDEX["PrivateTest"]) & clean}


def clean_split(data: FerData, usage: str = "PrivateTest") -> FerData:
    """The "clean" view of a test split: without pixel duplicates of Training images."""
    keep = clean_mask(data)
    return data.select(keep & (data.usage == USAGE_TO_INDEX[usage]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.audit", description="FER-2013 leakage audit")
    p.add_argument("--data", help="image-folder root or fer2013.csv (default: $FER_DATA)")
    p.add_argument("--json", action="store_true", help="print JSON")
    a = p.parse_args(argv)
    try:
        path = fer2013.find_data(a.data)
        if path is None:
            raise DataError("FER-2013 not found: pass --data PATH or set FER_DATA")
        data = fer2013.load(path)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    r = audit(data)["report"]
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"FER-2013 at {path}: {r['images']} images")
    print(f"  pixel-identical groups: {r['duplicate_groups']} ({r['files_in_duplicate_groups']} files), "
          f"{r['groups_across_splits']} across splits, {r['groups_with_conflicting_labels']} with conflicting labels")
    for u, n in r["test_duplicates_of_training"].items():
        print(f"  {u}: {n} images duplicate a Training image; clean {u}: {r['clean_sizes'][u]} images")
    print(f"  near-constant images (pixel std < 2): {r['near_constant_images']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
