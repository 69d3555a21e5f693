"""The report of a run on a user's folder: ``report.json`` and ``report.md``.

Validation accuracy, macro-F1, per-class accuracy and the confusion matrix of
the best checkpoint on the run's own validation split (``split.json``), the
split itself (images and people on each side), every image that gave no face,
and the bundled release model's zero-shot accuracy on the same validation
faces for the labels both models know (matched by name, case aside), beside
the fine-tuned model's on those faces: what fine-tuning bought.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from runtime.classifier import Classifier
from runtime.errors import DataError

from . import distributed, user_folder
from .config import TrainConfig
from .cross_val import held_out
from .io import atomic_write_json, atomic_write_text
from .loop import build_initialized, read_start
from .metrics import paired_sign_p, summarize, wilson
from .saved import load_keras_model, model_input


def zero_shot(val, probs_ft: np.ndarray, bundled=None) -> dict:
    """The bundled model (``runtime.classifier`` release tier, int8, as
    ``fer-infer`` runs it) on ``val``'s faces whose label it knows: its accuracy
    and the fine-tuned model's on the same faces, overall and per label."""
    clf = Classifier(bundled, threads=2)
    known = {name.lower(): i for i, name in enumerate(clf.labels)}
    shared = [c for c, name in enumerate(val.label_names) if name.lower() in known]
    out = {"bundled_labels": list(clf.labels), "shared_labels": [val.label_names[c] for c in shared]}
    mask = np.isin(val.labels, shared)
    if not mask.any():
        out.update(n=0, note="no validation label is one of the bundled model's labels")
        return out
    pb = clf.predict_proba(val.images[mask])
    want = np.array([known[val.label_names[c].lower()] for c in val.labels[mask]])
    y = val.labels[mask]
    ft_right = probs_ft[mask].argmax(1) == y
    zs_right = pb.argmax(1) == want
    out.update(n=int(mask.sum()), bundled_accuracy=float(zs_right.mean()), finetuned_accuracy=float(ft_right.mean()),
               per_label={val.label_names[c]: {"n": int((y == c).sum()),
                                               "bundled": float(zs_right[y == c].mean()),
                                               "finetuned": float(ft_right[y == c].mean())} for c in shared})
    return out


def choice_lines(choice: dict) -> list[str]:
    """How the recipe and epoch count were chosen: each candidate's best figure."""
    if not choice:
        return []
    lines = [f"Recipe and epoch count chosen by {choice['how']}:", "",
             "| recipe | best accuracy | at epoch (0: the starting model) |", "|---|---|---|"]
    lines += [f"| {n} | {100 * c['val_accuracy']:.1f}% | {c['epoch']} |" for n, c in choice["candidates"].items()
              if c.get("val_accuracy") is not None]
    return lines + [""]


def markdown(report: dict) -> str:
    r, lab = report["validation"], report["labels"]
    s = report["split"]
    g = s.get("groups")
    lines = [f"# Run report: {Path(report['config']['out']).name}", "",
             f"Fine-tuned from `{report['config']['init']}` on `{report['config']['data']}` "
             f"({'faces found by the runtime detector and crop rule' if report['config']['detect'] else 'images taken as face crops (--no-detect)'}).",
             "", (f"Split ({s['how']}): {s['train']} training and {s['val']} validation faces"
                  + (f"; {g['train']} and {g['val']} people by `--group {g['pattern']}`" if g else "") + "."
                  if s["how"] != "cross_validation" else
                  f"Too few validation faces to choose on: {s['train']} faces cross-validated in {s['folds']} folds"
                  + (f" over {g['train']} people (`--group {g['pattern']}`)" if g else "") + "; every face was "
                  "held out once, and the figures below are those held-out predictions (the recipe and "
                  "epoch count were chosen on them too, so they lean slightly high). The model then trained "
                  "on every face."),
             "", f"**Validation accuracy {100 * r['accuracy']:.2f}%** "
             f"(95% interval {100 * wilson(round(r['accuracy'] * r['n']), r['n'])[0]:.1f}-"
             f"{100 * wilson(round(r['accuracy'] * r['n']), r['n'])[1]:.1f}), macro-F1 {100 * r['macro_f1']:.2f}% "
             f"({r['n']} faces; {report['best_epoch']} epochs of recipe {report['choice'].get('chosen', '?')}).",
             ""] + verdict_lines(report["comparison"]) + ["", *choice_lines(report["choice"]),
             "| label | train | val | accuracy (recall) | precision | F1 |", "|---|---|---|---|---|---|"]
    for name in lab:
        pc, n = r["per_class"][name], s["per_label"][name]
        lines.append(f"| {name} | {n['train']} | {n['val']} | {100 * pc['recall']:.1f}% | "
                     f"{100 * pc['precision']:.1f}% | {100 * pc['f1']:.1f}% |")
    lines += ["", "Confusion matrix (rows: true label, columns: predicted):", "",
              "| | " + " | ".join(lab) + " |", "|---|" + "---|" * len(lab)]
    for name, row in zip(lab, r["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    z = report["zero_shot"]
    lines += ["", "## What fine-tuning bought", ""]
    if z.get("n"):
        lines += [f"On the {z['n']} validation faces whose label the bundled model knows "
                  f"({', '.join(z['shared_labels'])}): bundled model (zero-shot, int8) "
                  f"{100 * z['bundled_accuracy']:.2f}%, this model {100 * z['finetuned_accuracy']:.2f}%.", "",
                  "| label | faces | bundled | fine-tuned |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {100 * v['bundled']:.1f}% | {100 * v['finetuned']:.1f}% |"
                  for k, v in z["per_label"].items()]
    else:
        lines.append(f"No comparison: {z.get('note', 'no shared label')}.")
    probs = [p for side in report["problems"].values() for p in side if not p["reason"].startswith("not an image")]
    lines += ["", f"## Images without a usable face: {len(probs)}", ""]
    lines += [f"- `{p['file']}`: {p['reason']}" for p in probs[:200]]
    if len(probs) > 200:
        lines.append(f"- ... and {len(probs) - 200} more (report.json has them all)")
    lines += ["", "Next: `python -m convert.quantize "
              f"{report['config']['out']}/best.keras --calibration {report['config']['data']}"
              f"{'' if report['config']['detect'] else ' --no-detect'} --out mine.tflite`", ""]
    return "\n".join(lines)


def start_probabilities(cfg: TrainConfig, faces: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The starting model of the run (its ``init`` with the head rows of the labels it knows,
    :mod:`train.warm_start`) on ``faces``, and the labels it knows."""
    warm = {}
    model = build_initialized(cfg, warm)
    return model.predict(model_input(model, faces), batch_size=128, verbose=0), list(warm.get("known", []))


def compare(labels: tuple[str, ...], y: np.ndarray, probs: np.ndarray, start: np.ndarray, known: list[str] | None,
            kept: str) -> dict:
    """The run's model against its starting model on the faces whose label the start knows: accuracy with
    95% Wilson intervals, per label, the sign test on the faces exactly one gets right, and the verdict
    ("better", "no better", "worse": a difference counts at p < 0.05)."""
    shared = [i for i, name in enumerate(labels) if name in (known or [])]
    mask = np.isin(y, shared)
    out = {"shared_labels": [labels[i] for i in shared], "n": int(mask.sum()), "kept": kept}
    if known is None:
        out.update(verdict="no comparison", note="a run across several workers is not compared with its start "
                                                 "there (python -m train --evaluate-only --out RUN on one machine "
                                                 "compares them)")
        return out
    if not mask.any():
        out.update(verdict="no comparison", note="no validation face has a label the starting model knows")
        return out
    yy = y[mask]
    ft, st = probs[mask].argmax(1) == yy, start[mask].argmax(1) == yy
    p = paired_sign_p(ft, st)
    diff = float(ft.mean() - st.mean())
    verdict = "better" if diff > 0 and p < 0.05 else "worse" if diff < 0 and p < 0.05 else "no better"
    out.update(finetuned={"accuracy": float(ft.mean()), "interval95": wilson(int(ft.sum()), len(ft))},
               start={"accuracy": float(st.mean()), "interval95": wilson(int(st.sum()), len(st))},
               difference_points=round(100 * diff, 2), sign_test_p=p, verdict=verdict,
               per_label={labels[c]: {"n": int((yy == c).sum()), "start": float(st[yy == c].mean()),
                                      "finetuned": float(ft[yy == c].mean()),
                                      "interval95": wilson(int(ft[yy == c].sum()), int((yy == c).sum()))}
                          for c in shared if (yy == c).any()})
    return out


def verdict_lines(c: dict) -> list[str]:
    """The plain verdict of :func:`compare`, for report.md and the training log."""
    if c["verdict"] == "no comparison":
        return [f"No verdict: {c['note']}."]
    f, s = c["finetuned"], c["start"]

    def pct(r):
        return f"{100 * r['accuracy']:.1f}% (95% interval {100 * r['interval95'][0]:.1f}-{100 * r['interval95'][1]:.1f})"
    return [f"**Verdict: {c['verdict']}.** On the {c['n']} validation faces whose label the starting model knows "
            f"({', '.join(c['shared_labels'])}): this model {pct(f)}, the starting model {pct(s)}; "
            f"{c['difference_points']:+.1f} points, sign test p = {c['sign_test_p']:.3f}"
            + (" (a difference this size is within chance)" if c["verdict"] == "no better" else "") + ".",
            "", f"**Kept: the {c['kept']}.**" + (" Fine-tuning did not beat the starting model on validation, so "
                                                 "this run's best.keras is the starting model (the bundled model's "
                                                 "own rows for your labels)." if c["kept"] == "starting model" else "")]


def write(cfg: TrainConfig, log=print) -> dict:
    """Evaluate ``cfg.out/best.keras`` on the run's validation split (a cross-validated run: its held-out
    predictions), beside the starting model; write report.json and report.md."""
    out = Path(cfg.out)
    best = out / "best.keras"
    if not best.is_file():
        raise DataError(f"{out}: no best.keras; train first")
    split = json.loads((out / "split.json").read_text())
    labels = tuple(split["labels"])
    val = user_folder.validation_of(out, log=lambda m: None)
    choice = json.loads((out / "choice.json").read_text()) if (out / "choice.json").is_file() else {}
    held = held_out(out) if split.get("how") == "cross_validation" else None
    if held is not None:
        probs, start = held["chosen"], held["start"]
        known = (read_start(out) or {}).get("known", [])
    else:
        model = load_keras_model(best)
        probs = model.predict(model_input(model, val.images), batch_size=128, verbose=0)
        if cfg.strategy == "multiworker" and distributed.read_tf_config() is not None:
            # the other workers are gone, and with them every collective op of this process: no second model
            start, known = probs, None
        else:
            start, known = start_probabilities(cfg, val.images)
    results = summarize(val.labels, probs, labels)
    rows = json.loads((out / "history.json").read_text()) if (out / "history.json").is_file() else []
    kept = choice.get("kept", "fine-tuned model")
    report = {"recipe": cfg.recipe, "config": cfg.to_dict(), "labels": list(labels),
              "data_checksum_sha256": split["data_checksum_sha256"],
              "epochs_trained": choice.get("epochs", len(rows)) if held is not None else len(rows),
              "best_epoch": choice.get("epochs") if choice else (
                  int(max(rows, key=lambda r: r["val_accuracy"])["epoch"]) if rows else None),
              "train_minutes": (choice.get("seconds", 0) / 60.0 if held is not None
                                else sum(r.get("seconds", 0) for r in rows) / 60.0),
              "hardware": f"{platform.machine()} ({__import__('os').cpu_count()} cores), {platform.system()}",
              "split": {k: v for k, v in split.items() if k not in ("train_files", "val_files", "problems",
                                                                    "fold_of_file")},
              "problems": split.get("problems", {}), "choice": choice,
              "validation": results, "comparison": compare(labels, val.labels, probs, start, known, kept),
              "zero_shot": zero_shot(val, probs)}
    atomic_write_json(out / "report.json", report)
    text = markdown(report)
    atomic_write_text(out / "report.md", text)
    log(text)
    return report
