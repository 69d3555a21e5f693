"""Package a finished training run as the release under ``models/``.

    python -m convert.release --run runs/release

Copies the float model and the run's record (config, data checksum, history,
plots, log), converts the int8 model with ``convert.quantize`` (accuracy gate
on PublicTest), evaluates float and int8 on PublicTest, PrivateTest and clean
PrivateTest, and writes ``models/MODEL_CARD.md`` from those numbers. When the
run has a quantization-aware fine-tuned model (``qat.h5``, from
``--set qat_epochs=N``), it is copied to ``models/fer_mobilenetv2_qat.h5``
(without optimizer state) and the int8 model is converted from it.

A run that started from the model released now (``--init
models/fer_mobilenetv2.keras`` or a copy of it: another training cycle) keeps
the chain: the current record and card move to ``models/release/stage1/``
before the new ones are written, and the card names both commands.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import convert  # noqa: F401
from train import config
from train.io import atomic_write_json, file_sha256
from train.report import copy_record
from runtime.contract import LABELS

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
FLOAT = "fer_mobilenetv2.keras"
QAT = "fer_mobilenetv2_qat.h5"
INT8 = "fer_mobilenetv2_int8.tflite"


def evaluate_tflite(path: Path, data) -> dict:
    from runtime.classifier import Classifier
    from train.audit import evaluation_masks
    from train.metrics import summarize

    clf = Classifier(path, threads=2)
    out = {}
    for name, mask in evaluation_masks(data).items():
        out[name] = summarize(data.labels[mask], clf.predict_proba(data.images[mask]))
    return out


def copy_without_optimizer(src: Path, dst: Path, data) -> dict:
    """Copy a (QAT) Keras model without optimizer state, with its own accuracy
    beside it (``dst.json``, which the converter embeds in the metadata)."""
    from convert.quantize import load_keras_model
    from train.io import atomic_path, atomic_write_json
    from train.report import evaluate_splits

    model = load_keras_model(src)
    with atomic_path(dst, suffix=".h5") as tmp:
        model.save(tmp, include_optimizer=False)
    res = evaluate_splits(model, data)
    record = {"source": src.name, "data_checksum_sha256": data.checksum,
              "accuracy": {k: round(v["accuracy"], 4) for k, v in res.items()},
              "macro_f1": {k: round(v["macro_f1"], 4) for k, v in res.items()}}
    atomic_write_json(dst.with_suffix(".json"), record)
    return record


def keep_stage(out: Path, run_cfg: dict, log=print) -> dict | None:
    """When the run starts from the model released in ``out`` now, move that
    release's record and card to ``release/stage1/`` and say so."""
    init = Path(run_cfg.get("init", ""))
    current = out / FLOAT
    if init.suffix != ".keras" or not init.is_file() or not current.is_file():
        return None
    digest = file_sha256(init)
    if digest != file_sha256(current):
        return {"init_sha256": digest, "stage1": None}
    rec, stage = out / "release", out / "release" / "stage1"
    tmp = out / ".stage1.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for f in rec.iterdir() if rec.is_dir() else []:
        if f.is_file():
            f.rename(tmp / f.name)
    for src, name in ((out / "MODEL_CARD.md", "MODEL_CARD.md"), (out / QAT.replace(".h5", ".json"), "qat.json")):
        if src.is_file():
            shutil.copy2(src, tmp / name)
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "log", "-n1", "--format=%H", "--", f"models/{FLOAT}"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    cfg1 = config.load_preset(str(tmp / "config.yaml")).to_dict() if (tmp / "config.yaml").is_file() else None
    info = {"model": FLOAT, "sha256": digest, "git_commit": commit,
            "command": config.command(cfg1) if cfg1 else None}
    atomic_write_json(tmp / "STAGE.json", info)
    shutil.rmtree(stage, ignore_errors=True)
    stage.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(stage)
    log(f"stage 1 (sha256 {digest[:12]}..., commit {commit[:12] or 'unknown'}) kept in {stage}")
    return {"init_sha256": digest, "stage1": info}


def card(run_report: dict, float_res: dict, int8_res: dict, qrep: dict, cmd: str, size: int,
         stage: dict | None = None) -> str:
    cfg = run_report["config"]
    stage1 = (stage or {}).get("stage1")
    rows = []
    for split in ("PrivateTest", "PublicTest", "PrivateTest_clean"):
        f, q = float_res[split], int8_res[split]
        rows.append(f"| {split} | {f['n']} | {100 * f['accuracy']:.2f}% | {100 * q['accuracy']:.2f}% | "
                    f"{100 * f['macro_f1']:.2f}% | {100 * q['macro_f1']:.2f}% |")
    per = []
    for c in LABELS:
        v = int8_res["PrivateTest"]["per_class"][c]
        per.append(f"| {c} | {100 * v['precision']:.1f}% | {100 * v['recall']:.1f}% | {100 * v['f1']:.1f}% | "
                   f"{v['support']} |")
    g = qrep.get("gate", {})
    qat = cfg.get("qat_epochs", 0)
    if stage1:
        train_cmd = config.command(cfg, init_as="runs/stage1/model.keras")
        init_line = (f"- Initialization: another training cycle from the stage-1 model (sha256 "
                     f"`{stage1['sha256']}`, released in commit `{stage1['git_commit'][:12] or 'unknown'}`; its "
                     "record, card and command are in `release/stage1/`).")
    else:
        train_cmd = config.command(cfg)
        init_line = f"- Initialization: `{cfg['init']}`."
    init_line += f" Whole network fine-tuned: {not cfg['freeze_base']}."
    qat_line = (f"- Quantization-aware fine-tuning (TensorFlow Model Optimization): {qat} epochs from the best "
                f"epoch, Adam at lr {cfg['lr'] / 20:g}, same augmentation; the int8 model is converted from it "
                "(`qat.h5`), the float model is the best epoch before it.\n" if qat else "")
    return f"""# Model card: fer-edge MobileNetV2 ({cfg['recipe']} recipe)

Generated by `python -m convert.release` from the training run's own files;
no number here is typed by hand.

## Model
- MobileNetV2, width {cfg['alpha']}, working resolution {cfg['image_size']}x{cfg['image_size']}, input: the raw
  48x48 grayscale face crop (gray to RGB, normalization and resizing are graph layers).
{init_line}
- Files: `{FLOAT}` (float, tf-keras), `{INT8}` (int8, {size / 1e6:.2f} MB, uint8 input with scale 1 and
  zero point 0, metadata and labels inside).

## Data
- FER-2013, Kaggle image-folder layout; input sha256 `{run_report['data_checksum_sha256']}`.
- Trained on Training (28,709), selected on PublicTest (best epoch {run_report['best_epoch']} of
  {run_report['epochs_trained']}), reported on PrivateTest. Clean PrivateTest drops the 288 images whose pixels
  duplicate a Training image (`python -m train.audit`).

## Training
- Command: `{train_cmd}` (resolved config: `release/config.yaml`).
- Optimizer {cfg['optimizer']}, peak lr {cfg['lr']}, weight decay {cfg['weight_decay']}, {cfg['schedule']} schedule,
  warm-up {cfg['warmup_epochs']} epochs, label smoothing {cfg['label_smoothing']}, dropout {cfg['dropout']},
  class weights (N/(K n_c))^{cfg['class_weight_power']}, batch {cfg['batch_size']}, seed {cfg['seed']}.
- Augmentation: flip {cfg['flip']}, rotation +-{cfg['rotate_deg']} deg, shift {cfg['shift']}, zoom {cfg['zoom']},
  random erasing p={cfg['erase_prob']}.
{qat_line}- Time: {run_report['train_minutes']:.0f} min on {run_report['hardware']}. Log: `release/train.log`;
  curves: `release/history.png`.

## Accuracy

| split | images | float | int8 | float macro-F1 | int8 macro-F1 |
|---|---|---|---|---|---|
{chr(10).join(rows)}

int8 vs float on PublicTest (conversion gate): top-1 agreement {100 * g.get('top1_agreement', float('nan')):.2f}%,
drop {g.get('drop_points', float('nan')):.2f} points (limit {g.get('max_drop_points', 'n/a')}).
Calibration: {qrep['calibration']['samples']} Training faces, stratified, seed {qrep['calibration']['seed']},
sha256 `{qrep['calibration']['sha256']}`.

int8 per class on PrivateTest:

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{chr(10).join(per)}

Confusion matrices: `release/confusion_PrivateTest.png`, `release/confusion_PublicTest.png` (float).

## Reproduce
```sh
make setup
{(stage1['command'] + " --data PATH --out runs/stage1" + chr(10)) if stage1 and stage1.get('command') else ""}{train_cmd} --data PATH --out runs/{cfg['recipe']}
python -m convert.release --run runs/{cfg['recipe']}
```
Release command used: `{cmd}` on {platform.machine()}, {time.strftime('%Y-%m-%d')}.

## Limits
FER-2013 faces are mostly frontal, low resolution and web-sourced; labels are noisy (FER+ majority votes
agree with them on about 65% of images). The disgust class has 436 training images. Do not use the model to
make decisions about people.
"""


def main(argv=None) -> int:
    from convert.quantize import ConvertError, GateError, QuantizationConfig, quantize
    from train import dataset
    from train.errors import DataError

    p = argparse.ArgumentParser(prog="python -m convert.release", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="finished run folder (with model.keras and report.json)")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    p.add_argument("--out", default=str(MODELS), help="release folder")
    a = p.parse_args(argv)
    run, out = Path(a.run), Path(a.out)
    try:
        for f in ("model.keras", "model.json", "report.json"):
            if not (run / f).is_file():
                raise ConvertError(f"{run}/{f} missing: finish the run (python -m train --evaluate-only --out {run})")
        stage = keep_stage(out, config.load_preset(str(run / "config.yaml")).to_dict(),
                           log=lambda m: print(m, file=sys.stderr))
        rec = out / "release"
        copy_record(run, rec)
        shutil.copy2(run / "model.keras", out / FLOAT)
        shutil.copy2(run / "model.json", out / FLOAT.replace(".keras", ".json"))
        src = out / FLOAT
        data = dataset.load(dataset.find_data(a.data))
        if (run / "qat.h5").is_file():
            src = out / QAT
            copy_without_optimizer(run / "qat.h5", src, data)
        qrep = quantize(src, out / INT8, QuantizationConfig.for_int8(), data=a.data,
                        log=lambda m: print(m, file=sys.stderr))
        run_report = json.loads((run / "report.json").read_text())
        int8_res = evaluate_tflite(out / INT8, data)
        float_res = run_report["results"]
        (rec / "int8_eval.json").write_text(json.dumps(int8_res, indent=2) + "\n")
        (rec / "quantize.json").write_text(json.dumps(qrep, indent=2) + "\n")
        cmd = "python -m convert.release " + " ".join(argv if argv is not None else sys.argv[1:])
        (out / "MODEL_CARD.md").write_text(card(run_report, float_res, int8_res, qrep, cmd,
                                                (out / INT8).stat().st_size, stage))
        for split in ("PrivateTest", "PublicTest", "PrivateTest_clean"):
            print(f"{split}: float {100 * float_res[split]['accuracy']:.2f}%  int8 {100 * int8_res[split]['accuracy']:.2f}%")
    except (ConvertError, GateError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
