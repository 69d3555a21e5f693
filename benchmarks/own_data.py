"""The own-data path measured end to end on a label set FER-2013 lacks.

    python -m benchmarks.own_data                  # FER+ majority labels with contempt, pasted into photos
    python -m benchmarks.own_data --per-label 100 --no-photos

Builds ``DIR/<label>/<image>`` from FER-2013 images whose FER+ crowd majority
is clear (``ferplus/``: contempt, which FER-2013 does not have, beside happy,
neutral, sad and surprise), from Training for the training folder and from
PublicTest for the test folder (other images, other people), pasted into
larger colour photos so that the default face path detects them. Then runs
the five commands of the README (train, convert, fer-infer, the accuracy
benchmark; the bundled model on the same test faces for the shared labels)
and writes ``benchmarks/results/own-data.json`` and ``.md`` with each step's
wall time and the figures. The tests build their small sets with
:func:`make_folder` (FER-2013 classes regrouped under new names).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.accuracy import folder_accuracy
from runtime.contract import LABELS
from train import fer2013, user_folder
from train.io import atomic_write_json, atomic_write_text
from train.metrics import wilson
from train.paths import REPO

#: new label -> the FER-2013 folder its faces come from (names FER-2013 does not use)
MAPPING = {"grin": "happy", "gasp": "surprise", "calm": "neutral"}


def fer_files(fer_root: Path, fer_label: str, usage: str = "Training") -> list[Path]:
    split = "train" if usage == "Training" else "test"
    return sorted(p for p in (Path(fer_root) / split / fer_label).glob(f"{usage}_*.jpg"))


def paste(face: np.ndarray, rng, canvas=(320, 240), side: int = 120):
    """A colour photo with the 48x48 gray ``face`` scaled to ``side`` px at a random place."""
    w, h = canvas
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 200, 3)
    bg = (base[None, None, :] + 30 * np.sin(xx[..., None] / rng.uniform(20, 60) + rng.uniform(0, 6))
          + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(bg, "RGB")
    tint = rng.uniform(0.85, 1.1, 3)
    f = Image.fromarray(face).resize((side, side), Image.BICUBIC)
    rgb = (np.asarray(f, np.float32)[..., None] * tint[None, None, :]).clip(0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    im.paste(Image.fromarray(rgb, "RGB"), (x, y))
    return im


def make_folder(fer_root, out, per_label: int = 20, photos: bool = False, seed: int = 0, usage: str = "Training",
                mapping: dict | None = None, people: int = 6, start: int = 0, fmt: str = "png") -> Path:
    """``out/<label>/P<k>_<i>.<fmt>``: ``per_label`` faces a label, as crops or pasted into photos."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    for label, fer_label in (mapping or MAPPING).items():
        (out / label).mkdir(parents=True, exist_ok=True)
        files = fer_files(fer_root, fer_label, usage)[start:start + per_label]
        for i, f in enumerate(files):
            face = np.asarray(Image.open(f).convert("L"))
            im = paste(face, rng) if photos else Image.fromarray(face)
            im.save(out / label / f"P{i % people:02d}_{label}_{i:03d}.{fmt}")
    return out


#: FER+ vote column -> label of the benchmark's folder
FERPLUS = {"contempt": "contempt", "happiness": "happy", "neutral": "neutral", "sadness": "sad", "surprise": "surprise"}


def ferplus_folder(fer_root, ferplus_csv, out, per_label: int, usage: str, photos: bool = True, seed: int = 0,
                   people: int = 20) -> dict:
    """``out/<label>/P<k>_<i>.png`` from images whose FER+ majority (at least 5 of 10 votes, a unique top) is one
    of :data:`FERPLUS`; returns {label: count}."""
    rng = np.random.default_rng(seed)
    votes = list(FERPLUS)
    rows = {k: [] for k in votes}
    with open(ferplus_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["usage"] != usage:
                continue
            try:
                v = [int(r[k]) for k in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                                         "contempt")]
            except (KeyError, ValueError):
                continue
            m = max(v)
            names = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
            top = names[v.index(m)]
            if m >= 5 and v.count(m) == 1 and top in rows:
                rows[top].append(r["path"])
    counts = {}
    out = Path(out)
    for key, files in rows.items():
        label = FERPLUS[key]
        (out / label).mkdir(parents=True, exist_ok=True)
        picked = [files[i] for i in sorted(rng.permutation(len(files))[:per_label])]
        for i, rel in enumerate(picked):
            face = np.asarray(Image.open(Path(fer_root) / rel).convert("L"))
            im = paste(face, rng) if photos else Image.fromarray(face)
            im.save(out / label / f"P{i % people:02d}_{label}_{i:03d}.png")
        counts[label] = len(picked)
    return counts


def _run(cmd: list[str], log) -> tuple[float, str]:
    log("$ " + " ".join(cmd))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd, capture_output=True, text=True,
                       cwd=REPO)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: " + (r.stderr.strip().splitlines() or [""])[-1])
    return time.perf_counter() - t, r.stdout


def small_case(fer, work: Path, per_label: int, test_per_label: int, people: int, log) -> dict:
    """A small set as a user has one: about ``7 x per_label`` photos of ``people`` people with the bundled
    model's own labels (FER-2013 Training faces by their FER-2013 label, pasted into photos), trained with
    the README's command and no flags; the int8 result against the bundled model on PublicTest photos of
    other people, each with its 95% interval."""
    same = {x: x for x in LABELS}
    make_folder(fer, work / "faces", per_label, photos=True, seed=0, mapping=same, people=people)
    make_folder(fer, work / "test", test_per_label, photos=True, seed=1, usage="PublicTest", mapping=same)
    steps = {}
    steps["train"], _ = _run(["python", "-m", "train", "--data", str(work / "faces"), "--out", str(work / "run"),
                              "--group", "^(P[0-9]+)_"], log)
    steps["convert"], _ = _run(["python", "-m", "convert.quantize", str(work / "run" / "best.keras"),
                                "--calibration", str(work / "faces"), "--out", str(work / "mine.tflite")], log)
    mine = folder_accuracy(work / "mine.tflite", work / "test", True, log=lambda m: None)
    base = folder_accuracy("release", work / "test", True, log=lambda m: None)
    rep = json.loads((work / "run" / "report.json").read_text())

    def fig(r):
        right = round(r["accuracy"] * r["faces"])
        return {"accuracy": r["accuracy"], "faces": r["faces"], "interval95": wilson(right, r["faces"]),
                "per_class": {k: v["recall"] for k, v in r["per_class"].items()}}
    return {"train_images": sum(1 for _ in (work / "faces").rglob("*.png")), "people": people,
            "test_images": sum(1 for _ in (work / "test").rglob("*.png")),
            "seconds": {k: round(v, 1) for k, v in steps.items()}, "choice": rep.get("choice", {}),
            "run_verdict": {k: rep["comparison"].get(k) for k in ("verdict", "kept", "n", "difference_points",
                                                                  "sign_test_p", "finetuned", "start")},
            "test": {"bundled": fig(base), "finetuned": fig(mine)},
            "data_checksum_sha256": rep["data_checksum_sha256"]}


def small_lines(r: dict, command: str) -> list[str]:
    t, c, v = r["test"], r["choice"], r["run_verdict"]

    def pct(x):
        return f"{100 * x['accuracy']:.1f}% ({100 * x['interval95'][0]:.1f}-{100 * x['interval95'][1]:.1f})"
    lines = ["# Own data, a small set: the bundled model's labels, 7 people", "",
             f"Command: `{command}`. Training folder: {r['train_images']} photos of {r['people']} people "
             "(FER-2013 Training faces by their FER-2013 label, pasted into photos, found by the default face "
             f"path), `python -m train --data faces --group '^(P[0-9]+)_'` with no other flag; test folder: "
             f"{r['test_images']} PublicTest photos (other people; {t['bundled']['faces']} faces found). The "
             "bundled model learned these Training faces from the FER+ crowd's votes; the labels here are "
             "FER-2013's own (one annotator), so the case measures a user whose labels follow another "
             "convention than the bundled model's.", "",
             f"Chosen by {c.get('how', '?')}: recipe {c.get('chosen')}, {c.get('epochs')} epochs; "
             f"the run's verdict: **{v['verdict']}**, kept the {v['kept']}.", "",
             "| model (int8, as fer-infer runs it) | test accuracy (95% interval) |", "|---|---|",
             f"| bundled | {pct(t['bundled'])} |", f"| fine-tuned | {pct(t['finetuned'])} |", "",
             "| step | seconds |", "|---|---|"] + [f"| {k} | {x:.0f} |" for k, x in r["seconds"].items()]
    return lines + [""]


def run_summary(rep: dict) -> dict:
    """What the benchmark keeps of the run's report: how the recipe was chosen and the verdict."""
    c = rep.get("comparison", {})
    return {"choice": {k: rep.get("choice", {}).get(k) for k in ("how", "chosen", "epochs", "kept")},
            "run_verdict": {k: c.get(k) for k in ("verdict", "kept", "n", "difference_points", "sign_test_p")}}


def large_lines(result: dict) -> list[str]:
    tr, te, c, v = result["train_images"], result["test_images"], result.get("choice", {}), result.get("run_verdict", {})
    lines = ["# Own data, end to end: FER+ labels with contempt", "",
             f"Command: `{result['command']}` ({result['date']}); "
             f"{'photos through the default face path' if result['photos'] else 'crops, --no-detect'}.", "",
             f"Training folder: {sum(tr.values())} images ({', '.join(f'{k} {v}' for k, v in tr.items())}), FER-2013 "
             f"Training images by their FER+ majority; test folder: {sum(te.values())} PublicTest images.", "",
             "| step | seconds |", "|---|---|"] + [f"| {k} | {x:.0f} |" for k, x in result["seconds"].items()]
    if c.get("how"):
        lines += ["", f"Chosen by {c['how']}: recipe {c['chosen']}, {c['epochs']} epochs; the run's verdict against "
                  f"its starting model: **{v.get('verdict')}**, kept the {v.get('kept')}."]
    lines += ["", f"Epochs: {result['epochs_trained']}; validation accuracy "
              f"{100 * result['validation_accuracy']:.2f}%; test accuracy (int8, as fer-infer runs it) "
              f"{100 * result['test']['accuracy']:.2f}%, macro-F1 {100 * result['test']['macro_f1']:.2f}% on "
              f"{result['test']['faces']} faces.", "", "| label | test faces | recall |", "|---|---|---|"]
    lines += [f"| {k} | {x['support']} | {100 * x['recall']:.1f}% |" for k, x in result["test"]["per_class"].items()]
    lines += ["", f"On the labels the bundled model also has ({', '.join(result['shared_labels'])}): bundled "
              f"{100 * result['bundled_on_shared']:.2f}%, fine-tuned {100 * result['finetuned_on_shared']:.2f}% "
              "(the same faces).", ""]
    return lines


def main(argv=None) -> int:
    repo = REPO
    ap = argparse.ArgumentParser(prog="python -m benchmarks.own_data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="FER-2013 (default: $FER_DATA); FER+ is read from ferplus/ beside it")
    ap.add_argument("--work", default=str(repo / "build" / "own-data"), help="folders, run and model go here")
    ap.add_argument("--per-label", type=int, default=200, help="training images a label (contempt has 115)")
    ap.add_argument("--test-per-label", type=int, default=60, help="test images a label (contempt has 14)")
    ap.add_argument("--no-photos", action="store_true", help="crops, --no-detect, instead of photos")
    ap.add_argument("--out", default=str(repo / "benchmarks" / "results" / "own-data"), help="writes OUT.json/.md")
    ap.add_argument("--case", choices=["large", "small"], default="large",
                    help="large: FER+ labels with contempt (--per-label); small: about 150 photos of 7 people with "
                         "the bundled model's labels (writes OUT-small.json/.md)")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    fer = fer2013.find_data(a.data)
    csv_file = Path(fer).parent / "ferplus" / "fer2013_imagefolder_to_ferplus.csv" if fer else None
    if fer is None or not csv_file.is_file():
        print("error: needs FER-2013 and ferplus/fer2013_imagefolder_to_ferplus.csv beside it", file=sys.stderr)
        return 3
    work = Path(a.work)

    shutil.rmtree(work, ignore_errors=True)
    if a.case == "small":
        command = "python -m benchmarks.own_data " + " ".join(argv if argv is not None else sys.argv[1:])
        result = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M"),
                  **small_case(fer, work, 21, 20, 7, log)}
        text = "\n".join(small_lines(result, command))
        atomic_write_json(Path(a.out + "-small.json"), result)
        atomic_write_text(Path(a.out + "-small.md"), text)
        print(text)
        return 0
    photos = not a.no_photos
    tr = ferplus_folder(fer, csv_file, work / "faces", a.per_label, "Training", photos, seed=0)
    te = ferplus_folder(fer, csv_file, work / "test", a.test_per_label, "PublicTest", photos, seed=1)
    nd = [] if photos else ["--no-detect"]
    steps = {}
    steps["train"], _ = _run(["python", "-m", "train", "--data", str(work / "faces"), "--out", str(work / "run"),
                              *nd], log)
    steps["convert"], _ = _run(["python", "-m", "convert.quantize", str(work / "run" / "best.keras"),
                                "--calibration", str(work / "faces"), *nd, "--out", str(work / "mine.tflite")], log)
    steps["fer-infer"], _ = _run(["python", "-m", "runtime.cli", "--model", str(work / "mine.tflite"), *nd,
                                  "--json", str(work / "test" / "contempt")], log)
    steps["accuracy"], out = _run(["python", "-m", "benchmarks.accuracy", "--model", str(work / "mine.tflite"),
                                   "--data", str(work / "test"), *nd, "--json"], log)
    mine = json.loads(out)
    # the bundled model on the same test faces, for the labels it has (contempt is not one)

    shared = work / "test-shared"
    shutil.rmtree(shared, ignore_errors=True)
    bundled_labels = set(LABELS)
    for d in (work / "test").iterdir():
        if d.name in bundled_labels:
            shutil.copytree(d, shared / d.name)
    base = folder_accuracy("release", shared, photos, log=lambda m: None)
    mine_shared = folder_accuracy(work / "mine.tflite", shared, photos, log=lambda m: None)
    rep = json.loads((work / "run" / "report.json").read_text())
    result = {"command": "python -m benchmarks.own_data " + " ".join(argv if argv is not None else sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M"), "photos": photos, "train_images": tr, "test_images": te,
              "seconds": {k: round(v, 1) for k, v in steps.items()}, "epochs_trained": rep["epochs_trained"],
              "validation_accuracy": rep["validation"]["accuracy"],
              "test": {k: mine[k] for k in ("faces", "accuracy", "macro_f1", "per_class", "confusion", "labels")},
              "test_images_without_face": len(mine["images_without_face"]),
              "shared_labels": sorted(p.name for p in shared.iterdir()),
              "bundled_on_shared": base["accuracy"], "finetuned_on_shared": mine_shared["accuracy"],
              "data_checksum_sha256": user_folder.load(work / "faces", None, photos, log=lambda m: None).checksum}
    result.update(run_summary(rep))
    lines = large_lines(result)
    atomic_write_json(Path(a.out + ".json"), result)
    atomic_write_text(Path(a.out + ".md"), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
