"""``python -m train.recipes.ablation``: what closes the gap from the published recipe to ours.

A ladder of budget runs. Each step changes one thing of the step before it,
starting from the published study's setup (``paper`` preset) and ending at
the release recipe. Every run sees about the same number of training images
(``BUDGET_PASSES`` passes over the full Training split), so the ladder fits a
2-core CPU in about an hour; budget runs are short, so read the table as
"what each change is worth early in training", not as final accuracies. The
full-length runs (``--full runs/paper --full runs/release``) are listed
beneath it for that.

    python -m train.recipes.ablation --out runs/ablation              # run the missing steps
    python -m train.recipes.ablation --out runs/ablation --table-only --full runs/paper --full runs/release

Each step is an ordinary ``python -m train`` run in ``OUT/<step>`` (its own
config.yaml, train.log, report.json), started in its own process and resumed
if it was interrupted. The table is written to ``OUT/ablation.md`` and
``OUT/ablation.json`` from those reports, never typed.

Exit codes: 0 done, 2 bad flag, 3 a step failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from train.io import atomic_write_json, atomic_write_text
from train.report import copy_record

TRAINING_IMAGES = 28709          # FER-2013 Training split
SUBSET_IMAGES = 7 * 500          # the published balanced subset
BUDGET_PASSES = 2
BUDGET_SIZE = 48

#: (step, what changes, overrides of the ``paper`` preset, cumulative)
STEPS = [
    ("paper", "published setup: 500/class subset, frozen ImageNet base, Adam, light augmentation", {}),
    ("finetune", "+ fine-tune the whole network", {"freeze_base": "false"}),
    ("full_data", "+ full Training split (28,709 images; PublicTest for model selection)",
     {"subset_train": "0", "subset_val": "0"}),
    ("augment", "+ release augmentation (random erasing, smaller shifts)",
     {"shift": "0.08", "erase_prob": "0.25"}),
    ("dropout", "+ dropout 0.2 before the head", {"dropout": "0.2"}),
    ("regularize", "+ AdamW weight decay 0.05, label smoothing 0.1, class weights, warm-up + cosine, batch 64",
     {"optimizer": "adamw", "weight_decay": "0.05", "label_smoothing": "0.1", "class_weight_power": "0.5",
      "warmup_epochs": "0.5", "schedule": "cosine", "batch_size": "64"}),
    ("input96", "+ 96x96 network input (= the release recipe, budget length)", {"image_size": "96"}),
]


def step_overrides(index: int) -> dict[str, str]:
    """The cumulative overrides of step ``index`` (budget size and epochs included)."""
    o: dict[str, str] = {"image_size": str(BUDGET_SIZE)}
    for _, _, changes in STEPS[: index + 1]:
        o.update(changes)
    subset = o.get("subset_train", "500") != "0"
    n = SUBSET_IMAGES if subset else TRAINING_IMAGES
    o["epochs"] = str(max(1, round(BUDGET_PASSES * TRAINING_IMAGES / n)))
    o["recipe"] = f"ablation-{STEPS[index][0]}"
    return o


def run_step(index: int, out: Path, data: str | None) -> int:
    name = STEPS[index][0]
    folder = out / name
    if (folder / "report.json").is_file():
        print(f"[{name}] done already ({folder}/report.json)")
        return 0
    cmd = [sys.executable, "-m", "train", "--preset", "paper", "--out", str(folder)]
    if data:
        cmd += ["--data", data]
    for k, v in step_overrides(index).items():
        cmd += ["--set", f"{k}={v}"]
    if (folder / "ckpt" / "state.json").is_file():
        cmd.append("--resume")
    print(f"[{name}] " + " ".join(cmd[1:]), flush=True)
    return subprocess.call(cmd)


def _row(step: str, change: str, report: dict) -> dict:
    r = report["results"]
    cfg = report["config"]
    n = SUBSET_IMAGES if cfg["subset_train"] else TRAINING_IMAGES
    return {"step": step, "change": change, "epochs": report["epochs_trained"],
            "images_seen": n * report["epochs_trained"], "image_size": cfg["image_size"],
            "train_minutes": round(report["train_minutes"], 1),
            "PrivateTest": r["PrivateTest"]["accuracy"], "PublicTest": r["PublicTest"]["accuracy"],
            "PrivateTest_clean": r["PrivateTest_clean"]["accuracy"],
            "macro_f1": r["PrivateTest"]["macro_f1"]}


def table(out: Path, full: list[Path]) -> dict:
    rows, prev = [], None
    for step, change, _ in STEPS:
        rep = out / step / "report.json"
        if not rep.is_file():
            continue
        row = _row(step, change, json.loads(rep.read_text()))
        row["delta"] = None if prev is None else row["PrivateTest"] - prev
        prev = row["PrivateTest"]
        rows.append(row)
    full_rows = []
    for f in full:
        rep = json.loads((f / "report.json").read_text())
        full_rows.append(_row(rep["recipe"], f"full-length `{rep['recipe']}` recipe ({f.name})", rep))
    result = {"budget": {"passes_over_training": BUDGET_PASSES, "image_size": BUDGET_SIZE},
              "steps": rows, "full_runs": full_rows}
    atomic_write_json(out / "ablation.json", result)
    atomic_write_text(out / "ablation.md", markdown(result))
    return result


def markdown(result: dict) -> str:
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    lines = ["# Ablation: from the published recipe to the release recipe", "",
             f"Budget runs: each sees about {result['budget']['passes_over_training']} passes' worth of the "
             f"Training split ({result['budget']['passes_over_training'] * TRAINING_IMAGES:,} images), at "
             f"{result['budget']['image_size']}x{result['budget']['image_size']} unless the step says otherwise; "
             "each row adds one change to the row above it. Made by `python -m train.recipes.ablation`; accuracies "
             "are the float Keras model's, best epoch chosen on the run's validation split. One seed per step "
             "and no repeats, so a step's Δ carries run-to-run noise that these runs do not measure.", "",
             "| step | change | input | epochs | images seen | PrivateTest | Δ | PublicTest | clean PrivateTest "
             "| macro-F1 | train min |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["steps"]:
        d = "" if r["delta"] is None else f"{100 * r['delta']:+.2f}"
        lines.append(f"| {r['step']} | {r['change']} | {r['image_size']} | {r['epochs']} | {r['images_seen']:,} "
                     f"| {pct(r['PrivateTest'])} | {d} | {pct(r['PublicTest'])} | {pct(r['PrivateTest_clean'])} "
                     f"| {pct(r['macro_f1'])} | {r['train_minutes']} |")
    if result["full_runs"]:
        lines += ["", "Full-length runs, for reference:", "",
                  "| run | input | epochs | images seen | PrivateTest | PublicTest | clean PrivateTest | macro-F1 "
                  "| train min |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result["full_runs"]:
            lines.append(f"| {r['change']} | {r['image_size']} | {r['epochs']} | {r['images_seen']:,} "
                         f"| {pct(r['PrivateTest'])} | {pct(r['PublicTest'])} | {pct(r['PrivateTest_clean'])} "
                         f"| {pct(r['macro_f1'])} | {r['train_minutes']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.recipes.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/ablation", help="folder of the ladder's runs")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    p.add_argument("--steps", help="comma-separated steps to run (default: all)")
    p.add_argument("--table-only", action="store_true", help="only write the table from finished steps")
    p.add_argument("--full", action="append", default=[], type=Path, help="a finished full-length run to list")
    p.add_argument("--record", type=Path, help="also copy the table and every run's record (config, data "
                   "checksum, history, report, log; no weights) into this folder")
    args = p.parse_args(argv)
    names = [s[0] for s in STEPS]
    wanted = names if not args.steps else args.steps.split(",")
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"error: unknown step(s) {', '.join(unknown)} (steps: {', '.join(names)})", file=sys.stderr)
        return 2
    for f in args.full:
        if not (f / "report.json").is_file():
            print(f"error: {f}/report.json missing (finish that run first)", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for i, name in enumerate(names):
            if name in wanted and run_step(i, out, args.data) != 0:
                print(f"error: step {name} failed; see {out / name}/train.log", file=sys.stderr)
                table(out, args.full)
                return 3
    result = table(out, args.full)
    if args.record:
        for step in result["steps"]:
            copy_record(out / step["step"], args.record / step["step"])
        for f in args.full:
            copy_record(f, args.record / f"full-{f.name}")
        for f in ("ablation.md", "ablation.json"):
            shutil.copy2(out / f, args.record / f)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
