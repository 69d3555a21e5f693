"""``python -m train.recipes.soup``: average the weights of finished runs (a model soup).

    python -m train.recipes.soup --runs runs/stage1 runs/cycle2 --out runs/soup --data PATH

Runs of one architecture where one starts from the other (a second training
cycle initialized from the first) lie in one basin of the loss, so the plain
average of their best checkpoints (each chosen on PublicTest) is a model of
its own, and often better than each (Wortsman et al., "Model soups", 2022).
The average mixes BatchNorm statistics that no longer match the averaged
weights, so they are measured again: a forward pass in training mode over a
seeded sample of Training images, each BatchNorm layer's moving mean and
variance set to the mean of its batch statistics. Measuring them again does
not always pay: averaging a released soup, ``soup5g``, with a run trained
from it, then measuring them, lost 0.7 point on PublicTest (68.12% against
68.82% averaged; the ``soup.json`` of ``models/records/candidates/soup_g2/`` and of
the release). So the soup keeps whichever statistics, averaged or measured,
score better on PublicTest, at every greedy step too.

The output folder is a finished run that ``python -m convert.release --run``
takes: ``best.keras`` and ``model.keras`` (the soup), the report on every
split, ``soup.json`` (each ingredient's file, sha256, command and PublicTest
accuracy; the recalibration sample) and, with ``--qat-epochs N``, a
quantization-aware fine-tuned ``qat.h5``. Its ``config.yaml`` is the last
run's, so the soup is fine-tuned and converted as that run would be.

Exit codes: 0 done, 2 bad flag or runs that do not match, 3 data problem,
5 cannot write the output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, DataError, run_command
from train import config, fer2013, loop, report
from train.io import atomic_write_json, atomic_write_text, file_sha256
from train.loop import source_model
from train.recipes.soft_targets import recipe_data
from train.report import inference_model
from train.saved import model_input

#: the record of how a soup was made, kept with the run and the release
SOUP_FILE = "soup.json"


def average_weights(weight_lists: list[list[np.ndarray]], shares: list[float] | None = None) -> list[np.ndarray]:
    """Element-wise mean of several models' weights (same order and shapes), weighted by ``shares``
    (default: equal). Non-float variables (counters, seeds) are taken from the first model."""
    shapes = [[w.shape for w in ws] for ws in weight_lists]
    for i, s in enumerate(shapes[1:], 1):
        if s != shapes[0]:
            raise ConfigError(f"ingredient {i + 1} has another architecture than ingredient 1 "
                              "(image_size may differ; alpha, channels and layers must not)")
    out = []
    for group in zip(*weight_lists):
        if np.issubdtype(group[0].dtype, np.floating):
            out.append(np.average(np.stack([g.astype(np.float64) for g in group]), axis=0,
                                  weights=shares).astype(group[0].dtype))
        else:
            out.append(group[0])
    return out


def recalibrate_batchnorm(model, images: np.ndarray, batch_size: int = 128) -> int:
    """Set every BatchNorm layer's moving mean and variance to the mean of its
    batch statistics over ``images`` (uint8 ``[N, 48, 48]``); returns the
    number of batches. Momentum k/(k+1) at batch k makes the exponential
    moving average an exact running mean."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    channels = model.inputs[0].shape[-1]
    k = 0
    try:
        for start in range(0, len(images), batch_size):
            for layer in bns:
                layer.momentum = k / (k + 1)
            x = images[start:start + batch_size][..., None].astype(np.float32)
            if channels == 3:
                x = np.repeat(x, 3, axis=-1)
            model(x, training=True)
            k += 1
    finally:
        for layer, m in zip(bns, saved):
            layer.momentum = m
    return k


def greedy(accuracies: list[float], soup_accuracy) -> tuple[list[int], list[dict]]:
    """The greedy soup (Wortsman et al. 2022): ingredients in order of their
    own PublicTest accuracy, best first; each joins when the soup with it is
    at least as accurate on PublicTest as the soup without it.

    ``soup_accuracy(members)`` is the PublicTest accuracy of the soup of those
    ingredient indices. Returns the kept indices (ascending) and one step per
    ingredient: ``{"index", "PublicTest_accuracy" (the soup with it), "kept"}``.
    """
    order = sorted(range(len(accuracies)), key=lambda k: (-accuracies[k], k))
    kept, best = [order[0]], accuracies[order[0]]
    steps = [{"index": order[0], "PublicTest_accuracy": best, "kept": True}]
    for k in order[1:]:
        acc = soup_accuracy(kept + [k])
        steps.append({"index": k, "PublicTest_accuracy": acc, "kept": acc >= best})
        if acc >= best:
            kept, best = kept + [k], acc
    return sorted(kept), steps


def _accuracy(model, faces: np.ndarray, labels: np.ndarray) -> float:
    return float((model.predict(model_input(model, faces), batch_size=256, verbose=0).argmax(1) == labels).mean())


def _ingredient(run: Path):
    for f in ("config.yaml", "best.keras"):
        if not (run / f).is_file():
            raise ConfigError(f"{run}: no {f}; a soup takes finished run folders")
    cfg = config.load_preset(str(run / "config.yaml"))
    rep = json.loads((run / "report.json").read_text()) if (run / "report.json").is_file() else {}
    return cfg, rep


def _started_from(run: Path, init: str, earlier: list[Path], earlier_sha: list[str],
                  earlier_weights: list) -> str | None:
    """The name of the earlier run whose best model ``run`` started from: the
    init checksum the run recorded (``data.json``: the file's content when it
    trained, even if that path holds another model now), else a weight-by-weight
    comparison with ``init`` as it is now; None when there is none."""
    try:
        digest = json.loads((run / "data.json").read_text()).get("init_sha256")
    except (OSError, ValueError):
        digest = None
    for r, sha in zip(earlier, earlier_sha):
        if digest and digest == sha:
            return Path(r).name
    if not init.endswith(".keras") or not Path(init).is_file():
        return None

    src = source_model(init).get_weights()
    for r, ws in zip(earlier, earlier_weights):
        if len(ws) == len(src) and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ws, src)):
            return Path(r).name
    return None


def _ingredients(runs: list[Path], pub, log) -> tuple[list[dict], list, object, config.TrainConfig]:
    """Each run's record (config, command, checksums, PublicTest accuracy), weights, the inference model
    (holding the last run's weights) and the last run's config."""
    ingredients, weights, model = [], [], None
    for run in runs:
        cfg_i, rep = _ingredient(run)
        started_from = _started_from(run, cfg_i.init, runs[:len(weights)], [i["sha256"] for i in ingredients],
                                     weights)
        model, _ = inference_model(cfg_i, run / "best.keras")
        weights.append(model.get_weights())
        acc = _accuracy(model, pub.images, pub.labels)
        # a soup among the runs (an earlier release, say) is remade by its own soup command, and its
        # inference model's checksum is the one a release record names
        sub = json.loads((run / SOUP_FILE).read_text()) if (run / SOUP_FILE).is_file() else None
        ingredients.append({"run": str(run), "model": "best.keras", "sha256": file_sha256(run / "best.keras"),
                            **({"model_sha256": file_sha256(run / "model.keras")}
                               if (run / "model.keras").is_file() else {}),
                            "started_from": started_from, "config": cfg_i.to_dict(),
                            "command": sub.get("command") if sub else config.command(cfg_i.to_dict()),
                            **({"soup": True} if sub else {}),
                            "best_epoch": rep.get("best_epoch"), "epochs_trained": rep.get("epochs_trained"),
                            "train_minutes": rep.get("train_minutes"), "PublicTest_accuracy": acc})
        log(f"ingredient {run}: PublicTest {100 * acc:.2f}%")
    return ingredients, weights, model, cfg_i


def _write(out: Path, cfg, model, record: dict, data, n_train: int, n_val: int) -> None:
    """The soup's run folder: config, data record, the model (as best.keras and model.keras), soup.json."""
    report.save_run(out, cfg, model, {"data.json": {"data_checksum_sha256": data.checksum, "train": n_train,
                                                    "val": n_val, "val_split": "PublicTest",
                                                    "skipped": data.skipped, "init_sha256": None},
                                      SOUP_FILE: record})


def make(runs: list[Path], out: Path, data_path: str | None = None, bn_images: int = 19200,
         bn_batch_size: int = 128, seed: int = 0, qat_epochs: int | None = None, command: str = "",
         greedy_soup: bool = False, log=print) -> dict:
    """Average ``runs``' best checkpoints into the run folder ``out`` (with
    ``greedy_soup``, only those :func:`greedy` keeps); returns the soup record."""
    if len(runs) < 2:
        raise ConfigError("a soup needs at least two runs")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; pick another --out")
    t0 = time.time()
    path = fer2013.find_data(data_path)
    if path is None:
        raise DataError("FER-2013 not found: pass --data PATH (image-folder root or fer2013.csv) or set FER_DATA")
    data = fer2013.load(path, progress=True)
    pub, train = data.split("PublicTest"), data.split("Training")
    ingredients, weights, model, cfg_i = _ingredients(runs, pub, log)
    cfg = config.from_dict({"out": str(out), "data": str(path),
                            **({"qat_epochs": qat_epochs} if qat_epochs is not None else {})}, cfg_i)
    idx = np.sort(np.random.default_rng(seed).permutation(len(train))[:bn_images])
    bn_faces = train.images[idx]

    measured: dict[tuple, tuple[list, dict]] = {}   # members -> (the soup's weights, its BatchNorm record)

    def soup_of(members: list[int]) -> dict:
        """Set the model to the soup of ``members`` with the BatchNorm
        statistics that score better on PublicTest: averaged with the weights,
        or measured again on the Training sample (a tie keeps the measured
        ones). Returns ``{"statistics", "averaged", "recalibrated", "batches"}``
        (PublicTest accuracies; ``rec[rec["statistics"]]`` is the soup's). A
        soup measured before is not measured again."""
        key = tuple(sorted(members))
        if key in measured:
            ws, rec = measured[key]
            model.set_weights(ws)
            return rec
        averaged = average_weights([weights[k] for k in members])
        model.set_weights(averaged)
        rec = {"statistics": "averaged", "averaged": _accuracy(model, pub.images, pub.labels), "recalibrated": None,
               "batches": 0}
        if len(members) > 1:
            rec["batches"] = recalibrate_batchnorm(model, bn_faces, bn_batch_size)
            rec["recalibrated"] = _accuracy(model, pub.images, pub.labels)
            if rec["recalibrated"] >= rec["averaged"]:
                rec["statistics"] = "recalibrated"
            else:
                model.set_weights(averaged)
        measured[key] = model.get_weights(), rec
        return rec

    steps = None
    kept = list(range(len(runs)))
    if greedy_soup:
        statistics: dict[int, str] = {}    # the run a greedy step tried -> the statistics its soup kept

        def tried(members):
            rec = soup_of(members)
            statistics[members[-1]] = rec["statistics"]
            log(f"greedy: + {Path(runs[members[-1]]).name}: PublicTest {100 * rec[rec['statistics']]:.2f}% "
                f"(BatchNorm statistics {rec['statistics']})")
            return rec[rec["statistics"]]

        kept, steps = greedy([i["PublicTest_accuracy"] for i in ingredients], tried)
        for st in steps:
            if st["index"] in statistics:
                st["statistics"] = statistics[st["index"]]
            st["run"] = Path(runs[st.pop("index")]).name
        log("greedy: kept " + ", ".join(Path(runs[k]).name for k in kept))
    for k, i in enumerate(ingredients):
        i["kept"] = k in kept
    bn = soup_of(kept)
    soup_acc = bn[bn["statistics"]]
    log(f"average: PublicTest {100 * bn['averaged']:.2f}% with the averaged BatchNorm statistics"
        + (f", {100 * bn['recalibrated']:.2f}% measured again on {len(idx)} Training images" if bn["batches"] else "")
        + f"; kept: {bn['statistics']}")
    best_ingredient = max(i["PublicTest_accuracy"] for i in ingredients)
    log(f"soup: PublicTest {100 * soup_acc:.2f}% (best ingredient {100 * best_ingredient:.2f}%)")
    if soup_acc <= best_ingredient:
        log("warning: the soup does not beat its best ingredient on PublicTest; release that run instead")
    record = {"ingredients": ingredients, "data_checksum_sha256": data.checksum,
              "batchnorm": {"images": int(len(idx)), "batch_size": bn_batch_size, "batches": bn["batches"],
                            "seed": seed, "sample": "seeded permutation of the Training split, first N, no augmentation",
                            "statistics": bn["statistics"],
                            "PublicTest_accuracy": {"averaged": bn["averaged"], "recalibrated": bn["recalibrated"]}},
              "PublicTest_accuracy": {"average": bn["averaged"], "soup": soup_acc, "best_ingredient": best_ingredient},
              "beats_every_ingredient_on_PublicTest": soup_acc > best_ingredient, "command": command,
              **({"greedy": steps} if steps is not None else {})}
    record["minutes"] = (time.time() - t0) / 60
    _write(out, cfg, model, record, data, len(train), len(pub))
    return record


def write_report(out: Path) -> dict:
    """The run report of a soup: every split evaluated; epochs and training
    time are the ingredients' totals."""
    cfg = config.load_preset(str(out / "config.yaml"))
    rep = report.write(cfg)
    soup = json.loads((out / SOUP_FILE).read_text())
    rep["epochs_trained"] = sum(i.get("epochs_trained") or 0 for i in soup["ingredients"])
    rep["train_minutes"] = sum(i.get("train_minutes") or 0 for i in soup["ingredients"]) + soup.get("minutes", 0)
    rep["best_epoch"] = None
    rep["soup"] = soup
    meta = {k: rep[k] for k in ("data_checksum_sha256", "epochs_trained", "train_minutes", "hardware")}
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", report.markdown(cfg, rep["results"], meta).replace(
        "# Run report:", "# Run report (weight average of "
        + " + ".join(Path(i["run"]).name for i in soup["ingredients"] if i.get("kept", True)) + "):", 1))
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.recipes.soup", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="finished run folders (each with best.keras, config.yaml)")
    p.add_argument("--out", required=True, help="new run folder for the soup")
    p.add_argument("--data", help="FER-2013 image-folder root or fer2013.csv (default: $FER_DATA)")
    p.add_argument("--bn-images", type=int, default=19200, help="Training images for the BatchNorm statistics")
    p.add_argument("--bn-batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="seed of the recalibration sample")
    p.add_argument("--qat-epochs", type=int, help="quantization-aware fine-tuning epochs (default: the last run's)")
    p.add_argument("--greedy", action="store_true",
                   help="greedy soup: add runs best first, each only if PublicTest does not fall")
    a = p.parse_args(argv)

    def body():
        if a.bn_images < 1 or a.bn_batch_size < 1:
            raise ConfigError("--bn-images and --bn-batch-size must be positive")

        out = Path(a.out)
        logs: list[str] = []
        make([Path(r) for r in a.runs], out, a.data, a.bn_images, a.bn_batch_size, a.seed, a.qat_epochs,
             command="python -m train.recipes.soup " + " ".join(argv if argv is not None else sys.argv[1:]),
             greedy_soup=a.greedy,
             log=lambda m: (logs.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {m}"), print(m, file=sys.stderr)))
        log = loop.tee(lambda m: print(m, file=sys.stderr), out / "train.log")
        with open(out / "train.log", "a") as f:
            f.write("".join(m + "\n" for m in logs))
        cfg = config.load_preset(str(out / "config.yaml"))
        if cfg.qat_epochs:
            loop.finetune_step(cfg, recipe_data(cfg, log), "qat", log=log)
        write_report(out)

    return run_command(body, extra="train")


if __name__ == "__main__":
    sys.exit(main())
