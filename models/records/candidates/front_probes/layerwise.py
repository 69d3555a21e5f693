"""Exploration record (#36): the release's blend with the base's share set per depth instead of uniformly.

    PYTHONPATH=. python models/records/candidates/front_probes/layerwise.py \\
        --runs runs/fp_split_s21 runs/fp_photo_s22 runs/fp_photo_s24 --base runs/stage1/model.keras \\
        --out models/records/candidates/front_probes/layerwise.json

Each variant's probabilities on the choosing sets get a class prior fitted for the ``fer2013`` goal
(``train.recipes.choose.with_prior``), as ``python -m train.recipes.blend`` fits the release's. Float models.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from train.recipes import blend, choose
from train.saved import load_keras_model

#: (name, base share by depth: 0 stem, 1-16 MobileNetV2 blocks, 17 last 1x1 convolution, 18 head)
VARIANTS = (("uniform 0.2 (the release)", lambda d: 0.2), ("0.1 below block 13, 0.4 from it", lambda d: 0.1 if d < 13 else 0.4),
            ("0.15 below block 13, 0.3 from it", lambda d: 0.15 if d < 13 else 0.3),
            ("0.25 below block 13, 0.1 from it", lambda d: 0.25 if d < 13 else 0.1),
            ("0.1 below the last convolution, 0.5 from it", lambda d: 0.1 if d < 17 else 0.5),
            ("0 at the stem rising to 0.4 at the head", lambda d: 0.4 * d / 18))


def depth(layer: str) -> int:
    if layer.startswith("block_"):
        return int(layer.split("_")[1])
    if layer.startswith(("Conv_1", "out_relu")):
        return 17
    if layer.startswith(("Conv1", "bn_Conv1", "expanded_conv")):
        return 0
    return 18


def leaves(model):
    for layer in model.layers:
        yield from (leaves(layer) if getattr(layer, "layers", None) else [layer])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--data")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    _, model = blend.blended_model([Path(r) for r in a.runs], None, 0.0)
    soup, base = model.get_weights(), load_keras_model(a.base).get_weights()
    index = {id(v): i for i, v in enumerate(model.weights)}
    depths = {index[id(w)]: depth(layer.name) for layer in leaves(model) for w in layer.weights if id(w) in index}
    sets = choose.load_sets(a.data)
    out = {"runs": a.runs, "base": a.base, "goal": "fer2013", "variants": {}}
    for name, share in VARIANTS:
        model.set_weights([(1 - share(depths[i])) * s + share(depths[i]) * b if np.issubdtype(s.dtype, np.floating)
                           else s for i, (s, b) in enumerate(zip(soup, base))])
        probs = {k: choose.probabilities(model, v[0]) for k, v in sets.items()}
        bias, figures = choose.with_prior(probs, sets, "fer2013")
        out["variants"][name] = {"offsets": [round(float(x), 3) for x in bias], "figures": figures}
        print(choose.line(name[:28], figures), flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
