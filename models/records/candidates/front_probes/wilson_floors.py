"""Exploration record (#36): the release's int8 prior fitted with floors that hold with 95% confidence.

    PYTHONPATH=. python models/records/candidates/front_probes/wilson_floors.py --run runs/blend \\
        --out models/records/candidates/front_probes/wilson_floors.json

``--run``: the release's blend before its int8 prior (``python -m train.recipes.blend``). Its int8 model (the
first route of ``convert.release.routes.ROUTES``, as ``python -m convert.release.int8_prior`` makes it) is
measured on the choosing sets and the ``fer2013`` prior fitted twice: with the floors the release was fitted
with (``train.recipes.choose.FLOORS`` and ``RECALL_FLOORS``), and with each of issue #36's targets raised to the
lowest observed figure whose 95% Wilson interval (``train.metrics.wilson``) lies above the target on that
many faces. PrivateTest is not measured.
"""

import argparse
import json
from pathlib import Path

from convert.release.int8_prior import int8_figures
from convert.release.routes import ROUTES, real_face_sets
from runtime.contract import LABELS
from train.metrics import wilson
from train.recipes import choose

#: issue #36's targets on the choosing sets: set-level and FER+ recall per class
TARGETS = {"wild_dev": 0.82, "wild_dev_neutral": 0.78, "PublicTest_FERplus": 0.82}
RECALL_TARGETS = {"angry": 0.75, "fear": 0.71, "disgust": 0.64, "sad": 0.54}


def confident(target: float, n: int) -> float:
    """The lowest k/n whose 95% Wilson interval lies above ``target``."""
    return next(k / n for k in range(n + 1) if wilson(k, n)[0] >= target)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--data")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sets = {k: v for k, v in real_face_sets(a.data).items() if k in choose.SET_WEIGHTS}
    logp, before = int8_figures(Path(a.run) / "best.keras", sets, a.data, print)
    y_fp, y_wild = sets["PublicTest_FERplus"][1], sets["wild_dev"][1]
    n = {"wild_dev": len(y_wild), "wild_dev_neutral": int((y_wild == LABELS.index("neutral")).sum()),
         "PublicTest_FERplus": len(y_fp)}
    wilson_floors = {k: round(confident(t, n[k]), 4) for k, t in TARGETS.items()}
    wilson_recall = {c: round(max(choose.RECALL_FLOORS[c], confident(t, int((y_fp == LABELS.index(c)).sum()))), 4)
                     for c, t in RECALL_TARGETS.items()}
    out = {"run": a.run, "route": list(ROUTES[0]), "int8": before, "fits": {}}
    for name, floors, recall in (("release floors", dict(choose.FLOORS), dict(choose.RECALL_FLOORS)),
                                 ("95% Wilson floors", wilson_floors, wilson_recall)):
        choose.FLOORS.update(floors)
        choose.RECALL_FLOORS.update(recall)
        bias, figures = choose.with_prior_log(logp, sets, "fer2013")
        out["fits"][name] = {"floors": floors, "recall_floors": recall,
                             "offsets": [round(float(x), 3) for x in bias], "figures": figures}
        r = figures["PublicTest_FERplus"]["recall"]
        print(choose.line(name, figures) + f"  disgust {100 * r['disgust']:.1f}%  sad {100 * r['sad']:.1f}%",
              flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
