"""Exploration record (#36): how often the FER+ crowd's majority is FER-2013's own label, per split.

    PYTHONPATH=. python models/records/candidates/front_probes/agreement.py > models/records/candidates/front_probes/agreement.txt

Where the two disagree a model can be right under one label set only, so the two accuracies trade against
each other; a model that always gave the FER+ majority would score about this agreement on FER-2013's labels.
"""

import argparse

import numpy as np

from train import fer2013
from train.recipes.soft_targets import ferplus_majority


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    a = ap.parse_args()
    path = fer2013.require_data(a.data)
    fer = fer2013.load(path)
    _, _, majority = ferplus_majority(fer, None, path)
    print("split | faces | with a FER+ majority | majority = FER-2013 label | FER-2013 accuracy of "
          "always the majority (at most: faces without a majority counted right)")
    for usage in ("Training", "PublicTest", "PrivateTest"):
        rows = np.flatnonzero(fer.usage == fer2013.USAGE_TO_INDEX[usage])
        keep = rows[majority[rows] >= 0]
        same = int((majority[keep] == fer.labels[keep]).sum())
        print(f"{usage} | {len(rows)} | {len(keep)} | {100 * same / len(keep):.2f}% | "
              f"{100 * (same + len(rows) - len(keep)) / len(rows):.2f}%")


if __name__ == "__main__":
    main()
