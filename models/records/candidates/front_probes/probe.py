"""Exploration record (#36): a FER-2013 head trained on the FER+ runs' features, its logits added to theirs.

    PYTHONPATH=. python models/records/candidates/front_probes/probe.py \\
        --runs runs/fp_split_s21 runs/fp_photo_s22 runs/fp_photo_s24 \\
        --out models/records/candidates/front_probes/probe.json

The equal average of the runs (no base) is frozen; a linear head (L2 1e-4, class weights (N/(K n_c))^0.5, Adam,
15 epochs, seed 0) learns FER-2013's labels from its pooled features on Training (each face and its mirror
averaged). Its logits, times lambda, are added to the runs' own head (one dense layer either way: a model that
ships the sum costs nothing more); a class prior is fitted for the ``fer2013`` goal as for the release. Float.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from train import fer2013
from train.recipes import blend, choose
from train.saved import model_input

LAMBDAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--data")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    _, model = blend.blended_model([Path(r) for r in a.runs], None, 0.0)
    dense = model.get_layer("predictions")
    features = tf.keras.Model(model.inputs, dense.input)
    w, b = dense.get_weights()
    fer = fer2013.load(fer2013.require_data(a.data))
    rows = np.flatnonzero(fer.usage == fer2013.USAGE_TO_INDEX["Training"])
    x = model_input(model, fer.images[rows])
    f_train = (features.predict(x, batch_size=256, verbose=0) + features.predict(x[:, :, ::-1], batch_size=256,
                                                                                 verbose=0)) / 2
    y = fer.labels[rows]
    tf.keras.utils.set_random_seed(0)
    head = tf.keras.Sequential([tf.keras.layers.Input((f_train.shape[1],)),
                                tf.keras.layers.Dense(w.shape[1], kernel_regularizer=tf.keras.regularizers.l2(1e-4))])
    head.compile(tf.keras.optimizers.Adam(1e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    weights = (len(y) / (w.shape[1] * np.bincount(y, minlength=w.shape[1]))) ** 0.5
    head.fit(f_train, y, batch_size=256, epochs=15, verbose=0, class_weight=dict(enumerate(weights)))
    sets = choose.load_sets(a.data)
    feats = {k: features.predict(model_input(model, v[0]), batch_size=256, verbose=0) for k, v in sets.items()}
    own = {k: v @ w + b for k, v in feats.items()}
    probe = {k: head(v).numpy() for k, v in feats.items()}
    out = {"runs": a.runs, "goal": "fer2013",
           "probe_alone": choose.measure({k: tf.nn.softmax(v).numpy() for k, v in probe.items()}, sets), "lambda": {}}
    print(choose.line("FER-2013 head alone", out["probe_alone"]), flush=True)
    for lam in LAMBDAS:
        bias, figures = choose.with_prior({k: tf.nn.softmax(own[k] + lam * probe[k]).numpy() for k in sets}, sets,
                                          "fer2013")
        out["lambda"][str(lam)] = {"offsets": [round(float(v), 3) for v in bias], "figures": figures}
        print(choose.line(f"runs + {lam} x FER-2013 head", figures), flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
