"""Where things live in a checkout: the one module that knows the repository's layout.

``runtime/`` never needs this (it finds its bundled models inside its own
package); training, conversion and the benchmarks do.
"""

from __future__ import annotations

from pathlib import Path

#: the repository root (the folder holding train/, convert/, runtime/, benchmarks/)
REPO = Path(__file__).resolve().parents[1]
#: what ships: each tier's int8 model, the float model it came from, and its card
MODELS = REPO / "models"
#: the records of how the shipped models were made: releases, candidates, teachers, frontier points
RECORDS = MODELS / "records"
#: the release tier's float model (``init: release``)
RELEASE_FLOAT = MODELS / "fer_mobilenetv2.keras"
#: a release record's cross-validated posed figures and probabilities (``python -m convert.release.crossval``,
#: read by ``train.recipes.posed.crossval_probs``): written into the run folder a release converts, copied with
#: its record
POSED_CV_JSON, POSED_CV_NPZ = "posed_cv.json", "posed_cv.npz"
#: the data folder beside a checkout (read-only: caches go elsewhere)
SHARED_DATA = REPO.parent / "shared" / "data"


def record_dir(tier_dir: Path) -> Path:
    """The release record of the tier shipped in ``tier_dir``.

    A bundled tier keeps it under ``models/records/`` (``models/`` is the
    release tier: ``records/release``; ``models/micro``: ``records/micro``);
    any other folder keeps it in ``tier_dir/release``.
    """
    tier_dir = Path(tier_dir).resolve()
    if tier_dir == MODELS.resolve():
        return RECORDS / "release"
    if tier_dir.parent == MODELS.resolve():
        return RECORDS / tier_dir.name
    return tier_dir / "release"
