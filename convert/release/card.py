"""The model card of a release (``models/MODEL_CARD.md``), written from the
run's own files: no number in it is typed by hand."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from convert.firmware import TFLM_MAX_BYTES, FirmwareError, measure, operators
from convert.release.history import FLOAT, INT8, REPO, release_records, repo_relative
from runtime.contract import LABELS
from train import config
from train.paths import MODELS, POSED_CV_JSON, RECORDS, record_dir

#: the record folder of the release of now, relative to models/ (as :func:`release_records` names it)
RELEASE_NOW = f"{RECORDS.relative_to(MODELS)}/release/"


def hints_text(hints: dict | None, rec_dir: str = "release") -> str:
    """The card's sections on flip averaging and calibrated probabilities (``rec_dir``: the record folder)."""
    if not hints:
        return ""
    rec, cal = hints["tta"], hints["calibration"]
    a = rec["accuracy"]
    splits = ("PrivateTest", "PublicTest", "PrivateTest_clean") + tuple(k for k in REAL_SETS if k not in
                                                                       ("PrivateTest", "PublicTest"))
    rows = "\n".join(f"| {s} | {100 * a[s]['none']:.2f}% | {100 * a[s]['flip']:.2f}% |" for s in splits if s in a)
    t = cal["temperature"]
    ece = "\n".join(f"| {s} | {cal['ece'][s]['before']:.3f} | {cal['ece'][s]['after']:.3f} |"
                    for s in splits if s in cal["ece"])
    return f"""
## Flip averaging

`fer-infer --tta flip` / `Recognizer(tta="flip")` also classifies each face
mirrored and averages the probabilities (two model runs a face). The model's
metadata recommends `tta: {rec['recommended']}` (chosen on {rec.get('chosen_on', 'PublicTest')}: flip
when it gains at least {100 * rec['min_gain']:.1f} points there); `--tta auto`
follows it. Measured on the int8 model (`{rec_dir}/hints.json`):

| split | one pass | flip averaging |
|---|---|---|
{rows}

## Calibrated probabilities

Temperature scaling fitted on {cal.get('fitted_on', 'PublicTest')} (`{rec_dir}/hints.json`): every
runtime reports `softmax(log(max(p, 1/512)) / T)` of the model's output with
T = {t:.2f} from the metadata (`temperature` in its contract); the top label
does not change. Expected calibration error (15 bins), int8, one pass:

| split | ECE of the model's softmax | ECE with T = {t:.2f} |
|---|---|---|
{ece}
"""


#: the sets of the card's real-faces table, with what each is
REAL_SETS = {"PublicTest": "PublicTest, FER-2013 labels (choosing)",
             "PublicTest_FERplus": "PublicTest, FER+ majority (choosing)",
             "wild_dev": "wild-dev, real web faces (choosing)",
             "posed_heldout": "posed, the people held out (choosing)",
             "posed_crossval": "posed, every person, cross-validated (the recipe; `posed_cv.json`)",
             "PrivateTest": "PrivateTest, FER-2013 labels (reported)",
             "PrivateTest_FERplus": "PrivateTest, FER+ majority (reported)"}


def real_faces_text(out_dir: Path | None, rec_dir: str) -> str:
    """The card's section on the faces users have: the shipped int8 model, one pass, on the choosing sets
    and PrivateTest with both label sets (``real_faces.json`` of ``python -m convert.release``)."""
    f = record_dir(out_dir or MODELS) / "real_faces.json"
    if not f.is_file():
        return ""
    figs = dict(json.loads(f.read_text())["int8"])
    cv = f.parent / POSED_CV_JSON
    if cv.is_file():
        figs["posed_crossval"] = json.loads(cv.read_text())["pooled"]
    rows = []
    for k, what in REAL_SETS.items():
        if k in figs:
            m = figs[k]
            rows.append(f"| {what} | {m['n']} | {100 * m['accuracy']:.2f}% | {100 * m['macro_f1']:.2f}% | "
                        + " | ".join(f"{100 * m['recall'][c]:.1f}" if c in m["recall"] else "" for c in LABELS) + " |")
    return f"""
## Faces people have

The int8 model, one pass as `fer-infer` runs it (`{rec_dir}/real_faces.json`). FER+ majority: the label
with the most of the crowd's ten votes (ties, contempt, unknown and not-a-face left out). wild-dev: real
web faces of 2,795 people (`../shared/data/SOURCES.md`), crops taken whole (`--no-detect`); choosing only,
never trained on. posed: lab crops of deliberate expressions (`posed/`, no neutral face) of the people the model
never trained on; a model trained on every posed person has instead its recipe's cross-validated figure (each
person read by the int8 model of the same recipe run with that person's fold held out: `python -m
convert.release.crossval`). Recall per class in %:

| set | faces | accuracy | macro-F1 | {' | '.join(LABELS)} |
|---|---|---|---|{'---|' * len(LABELS)}
{chr(10).join(rows)}
"""


def prior_text(prior: dict, rec_dir: str = "release") -> str:
    """The card's line for a head whose class prior ``python -m train.recipes.prior`` corrected (its ``prior.json``)."""
    acc = {r["tau"]: r["accuracy"] for r in prior["grid"]}
    stages = release_records()
    src = stages.get(prior.get("source_model_sha256")) or stages.get(prior["source_sha256"])
    where = (f"the model released {'now' if src == RELEASE_NOW else 'before it'}, record `{src}`" if src else
             f"`{Path(prior['source']).name}`")
    w = ", ".join(f"{c} {v:.2f}" for c, v in zip(LABELS, prior["class_weights"]))
    return (f"- Head: the class weights' prior taken back (`python -m train.recipes.prior`, logit adjustment): the dense "
            f"head's bias shifted by -tau * log(w_c), class weights {w}; tau = {prior['tau']:g} chosen on PublicTest "
            f"from {min(acc):g} to {max(acc):g} (single pass, float: {100 * acc[prior['tau']]:.2f}% against "
            f"{100 * acc[0.0]:.2f}% at tau = 0). The weights are otherwise those of {where}; `{rec_dir}/prior.json`.")


def arch_text(cfg: dict) -> str:
    """The cuts of a tier's MobileNetV2 (blocks, last 1x1 width, unpadded stem), when any."""
    cuts = []
    if cfg.get("blocks", 17) != 17:
        cuts.append(f"the first {cfg['blocks']} of its 17 inverted-residual blocks")
    if cfg.get("head_channels"):
        cuts.append(f"a {cfg['head_channels']}-wide last 1x1 convolution")
    if cfg.get("stem") == "valid":
        cuts.append("an unpadded first convolution")
    return (" (" + ", ".join(cuts) + ")") if cuts else ""


def firmware_text(path: Path | None) -> str:
    """The card's microcontroller section: size, TFLM operators and measured arena (small models only)."""
    if path is None or not path.is_file() or path.stat().st_size > TFLM_MAX_BYTES:
        return ""
    try:
        ops = operators(path.read_bytes())
        arena = measure(path)
    except FirmwareError as e:
        return f"\n## On a microcontroller\n\nNot measured: {e}.\n"
    return f"""
## On a microcontroller

The int8 file is {path.stat().st_size:,} bytes ({path.stat().st_size / 1024:.1f} KiB) and uses only
operators TensorFlow Lite for Microcontrollers implements: {', '.join(ops)}.
Tensor arena measured by TFLM's recording allocator (PyPI `tflite-micro`, reference kernels):
{arena['total']:,} bytes ({arena['total'] / 1024:.1f} KiB; reserve {arena['reserve']:,} with the margin of
`python -m convert.firmware`, which writes the C source for a firmware).
"""


def card(run_report: dict, float_res: dict, int8_res: dict, qrep: dict, cmd: str, size: int,
         stage: dict | None = None, records: dict[str, str] | None = None, init_desc: str = "",
         init_as: str | None = None, out_rel: str = "", routes: str = "", tta: dict | None = None,
         out_dir: Path | None = None) -> str:
    """The model card (``MODEL_CARD.md``) of a release written to ``out_dir``; the files it names are in the
    tier's record folder (:func:`train.paths.record_dir`), given relative to ``out_dir``."""
    rec_dir = os.path.relpath(record_dir(out_dir or MODELS), out_dir or MODELS)
    return _card_text(run_report, float_res, int8_res, qrep, cmd, size, stage, records, init_desc, init_as,
                      out_rel, routes, tta, out_dir, rec_dir)


def _accuracy_rows(float_res: dict, int8_res: dict) -> tuple[list[str], list[str]]:
    """The accuracy table's rows (float and int8 per split) and the int8 per-class rows on PrivateTest."""
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
    return rows, per


def _soup_section(soup: dict, records: dict[str, str] | None, qat: int, rec_dir: str) -> dict:
    """The card's lines for a soup: its weights, how it was selected, its commands, its logs."""
    names = [Path(i["run"]).name for i in soup["ingredients"]]
    kept = [(n, i) for n, i in zip(names, soup["ingredients"]) if i.get("kept", True)]
    acc = soup["PublicTest_accuracy"]
    released = release_records()

    def release_of(i):
        """The record folder when the run is a release itself (its best.keras, or for a soup its
        model.keras, is that release's float model), else None."""
        return released.get(i.get("sha256")) or released.get(i.get("model_sha256"))

    def origin(n, i):
        if release_of(i):      # a release itself: its record has its commands
            return (f"`{n}` (the model released {'now' if release_of(i) == RELEASE_NOW else 'before'}, sha256 "
                    f"`{i['sha256'][:12]}`, PublicTest {100 * i['PublicTest_accuracy']:.2f}%, record "
                    f"`{release_of(i)}`)")
        if i.get("soup"):      # an earlier soup: its record names its runs
            return (f"`{n}` (an earlier soup, PublicTest {100 * i['PublicTest_accuracy']:.2f}%, record "
                    f"`{(records or {}).get(n, 'not kept')}`)")
        return (f"`{n}` (from `{i['started_from'] or i['config']['init']}`, PublicTest "
                f"{100 * i['PublicTest_accuracy']:.2f}%, record `{(records or {}).get(n, 'not kept')}`)")

    what = (f"the average of {len(kept)} training runs' best checkpoints" if len(kept) > 1 else
            "one training run's best checkpoint (the soup kept no other run)")
    bn = soup["batchnorm"]
    bn_acc = bn.get("PublicTest_accuracy") or {}
    if bn.get("statistics") == "averaged" and len(kept) > 1:
        stats = (f"BatchNorm statistics averaged with the weights (measured again on {bn['images']} Training "
                 f"images they scored {100 * bn_acc['recalibrated']:.2f}% on PublicTest, against "
                 f"{100 * bn_acc['averaged']:.2f}%)")
    else:
        stats = f"BatchNorm statistics measured again on {bn['images']} Training images"
    init_line = (f"- Weights: {what} (a model soup, `python -m train.recipes.soup`), {stats}. "
                 f"Run{'s' if len(kept) > 1 else ''}: " + "; ".join(origin(n, i) for n, i in kept) + ".")
    left = [(n, i) for n, i in zip(names, soup["ingredients"]) if not i.get("kept", True)]
    if soup.get("greedy"):
        init_line += (" The runs joined greedily (best on PublicTest first, each only if the soup's PublicTest "
                      "did not fall): " + "; ".join(
                          f"`{st['run']}` {100 * st['PublicTest_accuracy']:.2f}% "
                          f"{'kept' if st['kept'] else 'left out'}" for st in soup["greedy"]) + ".")
    if left:
        init_line += " Left out: " + "; ".join(origin(n, i) for n, i in left) + "."
    selection = (f"each run's best epoch selected on PublicTest, and the average kept because it beats every run\n"
                 f"  there ({100 * acc['soup']:.2f}% against {100 * acc['best_ingredient']:.2f}%)"
                 if acc["soup"] > acc["best_ingredient"] else
                 f"each run's best epoch selected on PublicTest; the soup does not beat its best run there\n"
                 f"  ({100 * acc['soup']:.2f}% against {100 * acc['best_ingredient']:.2f}%)")
    cmds = []
    for n, i in zip(names, soup["ingredients"]):
        if release_of(i):
            cmds.append(f"(runs/{n}: the release of {release_of(i)}, rebuilt by its card's "
                        f"commands, as a run folder: best.keras and config.yaml)")
            continue
        if i.get("soup"):
            cmds.append(f"(runs/{n}: the soup recorded in {(records or {}).get(n, 'no kept record')}, "
                        f"remade by its soup.json's command from the runs that file names)")
            continue
        prev = f"runs/{i['started_from']}/model.keras" if i["started_from"] else None
        cmds.append(f"{config.command(i['config'], init_as=prev)} --data PATH --out runs/{n}")
    soup_cmd = f"python -m train.recipes.soup --runs {' '.join('runs/' + n for n in names)} --out runs/soup --data PATH"
    soup_cmd += " --greedy" if soup.get("greedy") else ""
    soup_cmd += f" --qat-epochs {qat}" if qat else ""
    train_cmds = "- Commands: " + "; ".join(f"`{c}`" for c in cmds + [soup_cmd]) + "."
    steps, run_dir, conv_out = cmds + [soup_cmd], "runs/soup", ""
    logs = (f"Log: `{rec_dir}/train.log` (average, recalibration, QAT); each run's log and curves are in its "
            "record.")
    return dict(init_line=init_line, selection=selection, train_cmds=train_cmds, steps=steps, run_dir=run_dir,
                conv_out=conv_out, logs=logs)


def _run_section(run_report: dict, cfg: dict, init_line: str, stage1: dict | None, stage_init: str | None,
                 init_as: str | None, out_rel: str, rec_dir: str) -> dict:
    """The card's lines for one training run: how it was selected, its command, its logs."""
    train_cmd = config.command(cfg, init_as=stage_init or init_as)
    on = "PublicTest's FER+ majority" if cfg.get("val_labels") == "ferplus" else "PublicTest"
    selection = (f"selected on {on} (best epoch {run_report['best_epoch']} of\n"
                 f"  {run_report['epochs_trained']})")
    train_cmds = f"- Command: `{train_cmd}` (resolved config: `{rec_dir}/config.yaml`)."
    run_name = Path(out_rel).name if out_rel else cfg["recipe"]
    steps = []
    if stage1 and stage1.get("soup"):
        steps.append(f"# runs/stage1: the soup released in {rec_dir}/{stage1.get('folder', 'stage1')}/, remade by "
                     f"its card's commands, as a run folder")
    elif stage1 and stage1.get("command"):
        steps.append(stage1["command"] + " --data PATH --out runs/stage1")
    steps.append(f"{train_cmd} --data PATH --out runs/{run_name}")
    run_dir, conv_out = f"runs/{run_name}", f" --out {out_rel}" if out_rel else ""
    logs = f"Log: `{rec_dir}/train.log`;\n  curves: `{rec_dir}/history.png`."
    return dict(init_line=init_line, selection=selection, train_cmds=train_cmds, steps=steps, run_dir=run_dir,
                conv_out=conv_out, logs=logs)


def _choosing(fig: dict) -> str:
    """wild-dev, its neutral recall, FER+ majority and FER-2013 on PublicTest, in one phrase."""
    out = (f"wild-dev {100 * fig['wild_dev']['accuracy']:.2f}% (neutral recall "
           f"{100 * fig['wild_dev']['recall']['neutral']:.1f}%), FER+ majority "
           f"{100 * fig['PublicTest_FERplus']['accuracy']:.2f}%, FER-2013 {100 * fig['PublicTest']['accuracy']:.2f}%")
    q = fig.get("posed_heldout")
    if q:
        out += (f", posed people held out {100 * q['accuracy']:.2f}% (angry {q['recall'].get('angry', 0):.2f}, "
                f"disgust {q['recall'].get('disgust', 0):.2f}, fear {q['recall'].get('fear', 0):.2f})")
    return out


def _blend_section(blend: dict, cfg: dict, out_rel: str, rec_dir: str) -> dict:
    """The card's lines for a blend (``python -m train.recipes.blend``): FER+ runs averaged, the base's share,
    the class prior, their commands."""
    released = release_records()
    base_rec = released.get(blend.get("base_sha256") or "")
    names = [Path(i["run"]).name for i in blend["ingredients"]]
    starts = {released.get(i.get("init_sha256") or "") for i in blend["ingredients"]}
    start = next(iter(starts)) if len(starts) == 1 else None
    where = lambda r: "now" if r == RELEASE_NOW else "before"  # noqa: E731
    init_line = (f"- Weights: the equal average of {len(names)} runs ("
                 + ", ".join(f"`{n}`: {_targets_words(_teacher_in_repo(i['config'], n))}"
                             for n, i in zip(names, blend["ingredients"]))
                 + ")"
                 + (f", each fine-tuned from the model released {where(start)} (record `{start}`)" if start else "")
                 + (f", blended with that model at a share of {blend['base_share']:g}" if base_rec else
                    f", blended with `{blend['base']}` at a share of {blend['base_share']:g}" if blend["base"] else "")
                 + " (`python -m train.recipes.blend`).")
    pr = blend["prior"]
    if pr["goal"] != "none":
        init_line += ("\n- Head: a class prior fitted on the choosing sets (`--prior " + pr["goal"] + "`; offsets "
                      + ", ".join(f"{c} {v:+.2f}" for c, v in zip(LABELS, pr["offsets"])) + " added to the dense "
                      "head's bias): FER-2013 on PublicTest as high as it goes while wild-dev, its neutral recall "
                      "and the FER+ majority stay above " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in
                                                                      pr["floors"].items())
                      + " and each FER+ recall above its floor (" + ", ".join(
                          f"{k} {100 * v:.0f}%" for k, v in pr["recall_floors"].items()) + ")"
                      + ("; on the posed people held out, " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in
                                                                       pr["posed_floors"].items())
                         if pr.get("posed_floors") else "") + ".")
    init_line += " Float, on the choosing sets: " + _choosing(blend["figures"]["blend_prior"]) + f" (`{rec_dir}/blend.json`)."
    q = blend.get("int8_prior")
    if q:
        init_line += ("\n- The prior fitted again on the int8 model's outputs (`python -m convert.release.int8_prior`: "
                      f"route {' '.join(map(str, q['route']))}; offsets "
                      + ", ".join(f"{c} {v:+.2f}" for c, v in zip(LABELS, q["offsets"])) + " added on top): int8 "
                      + _choosing(q["figures"]["int8"]) + " before, " + _choosing(q["figures"]["int8_prior"]) + " after.")
    first = "runs/stage1/model.keras"
    steps = ([f"# runs/stage1: the model the runs started from, remade by the card in {start}, as a run folder"]
             if start else [])
    cmds = [config.command(_teacher_in_repo(i["config"], n), init_as=first if start else None)
            + f" --data PATH --out runs/{n}" for n, i in zip(names, blend["ingredients"])]
    base = f" --base {first if base_rec else blend['base']} --base-share {blend['base_share']:g}" if blend["base"] else ""
    blend_cmd = (f"python -m train.recipes.blend --runs {' '.join('runs/' + n for n in names)}{base} "
                 f"--prior {pr['goal']} --out runs/blend --data PATH")
    steps += cmds + [blend_cmd]
    run_dir = "runs/blend"
    if q:
        steps.append("python -m convert.release.int8_prior --run runs/blend --out runs/blend_int8 --data PATH")
        blend_cmd += f"`; `{steps[-1]}"
        run_dir = "runs/blend_int8"
    return dict(init_line=init_line, steps=steps, run_dir=run_dir,
                conv_out=f" --out {out_rel}" if out_rel else "",
                selection=("each run's best epoch selected on PublicTest's FER+ majority; the base's share and the "
                           "prior chosen on PublicTest (FER-2013 labels and FER+ majority) and wild-dev"
                           + (" and the posed people held out" if pr.get("posed_floors") else "")
                           + (", the base's share also on every posed person, cross-validated (`records/posed_cv/`)"
                              if blend.get("posed_held_out") == [] else "")),
                train_cmds="- Commands: " + "; ".join(f"`{c}`" for c in cmds + [blend_cmd]) + ".",
                logs=f"Each run's log and curves are in its record (`{RECORDS.relative_to(MODELS)}/candidates/`).")


def _teacher_in_repo(cfg: dict, run_name: str) -> dict:
    """``cfg`` with its teacher named by the committed record that holds the same predictions: the run's
    record (``records/candidates/<run>/data.json``) gives the teacher's sha256, a teacher record
    (``records/*/teacher.json``) the file with that sha256. Unchanged when there is no such record."""
    teacher = cfg.get("teacher")
    run_data = RECORDS / "candidates" / run_name / "data.json"
    if not teacher or not run_data.is_file():
        return cfg
    sha = ((json.loads(run_data.read_text()).get("soft_targets") or {}).get("teacher") or {}).get("sha256")
    for t in sorted(RECORDS.glob("*/teacher.json")):
        doc = json.loads(t.read_text())
        if sha and doc.get("npz_sha256") == sha:
            return dict(cfg, teacher=repo_relative(t.parent / doc.get("npz", "teacher.npz")))
    return cfg


def _targets_words(cfg: dict) -> str:
    """What one run of a blend learned from, in a few words: the FER+ votes, FER-2013's labels, a teacher's
    predictions, the posed faces."""
    fp, dw = cfg.get("ferplus_weight", 0.0), cfg.get("distill_weight", 0.0)
    parts = []
    if fp:
        parts.append("the FER+ votes" if fp == 1 else f"{fp:g} the FER+ votes")
    if dw:
        parts.append(("" if dw == 1 else f"{dw:g} ") + f"a teacher's predictions (`{cfg.get('teacher', '')}`)")
    if 1 - fp - dw > 1e-9:
        parts.append(f"{1 - fp - dw:g} FER-2013's labels")
    words = " + ".join(parts) or "FER-2013's labels"
    if cfg.get("posed"):
        folds, fold = cfg.get("posed_folds", 4), cfg.get("posed_fold", 0)
        words += (", with " + ("every person of `posed/`" if fold < 0 else
                               f"`posed/`'s people of {folds - 1} of {folds} folds (fold {fold} held out)")
                  + f" {cfg.get('posed_repeat', 10)} times"
                  + (f", rarer labels more (balance {cfg['posed_balance']:g})" if cfg.get("posed_balance") else "")
                  + (f", the lower face hidden on {cfg['posed_hide_mouth']:.0%} of them" if cfg.get("posed_hide_mouth")
                     else ""))
    return words


def _distill_line(cfg: dict) -> str:
    """The soft targets' line (teacher, FER+ votes), or ""."""
    distill_line = ""
    if cfg.get("distill_weight") or cfg.get("ferplus_weight"):
        t = REPO / Path(cfg.get("teacher") or "models/records/teacher/teacher.npz").parent / "teacher.json"
        teacher = json.loads(t.read_text()) if t.is_file() else {}
        ens = teacher.get("ensemble", {})
        distill_line = (f"- Soft targets: {1 - cfg.get('distill_weight', 0) - cfg.get('ferplus_weight', 0):g} hard label"
                        + (f" + {cfg['distill_weight']:g} teacher (`{cfg['teacher']}`, softened at T="
                           f"{cfg['distill_temperature']:g}; an ensemble of {len(teacher.get('members', []))} "
                           f"flip-averaged models: PublicTest {ens.get('PublicTest', float('nan')):.2f}%, PrivateTest "
                           f"{ens.get('PrivateTest', float('nan')):.2f}%, clean PrivateTest "
                           f"{ens.get('PrivateTest_clean', float('nan')):.2f}%; `{repo_relative(t.parent)}/TEACHER.md`)"
                           if cfg.get("distill_weight") else "")
                        + (f" + {cfg['ferplus_weight']:g} FER+ votes" if cfg.get("ferplus_weight") else "") + ".\n")
    return distill_line


def _qat_line(cfg: dict, qat: int, soup: dict | None, qrep: dict) -> str:
    """The quantization-aware fine-tuning line, or ""."""
    return (f"- Quantization-aware fine-tuning (TensorFlow Model Optimization): {qat} epoch{'s' if qat != 1 else ''} from the "
                f"{'averaged model' if soup else 'best epoch'}, Adam at lr {cfg['lr'] / 20:g}, same augmentation; "
                + ("the int8 model is converted from it (`qat.h5`), the float model is the "
                   f"{'average' if soup else 'best epoch'} before it.\n" if str(qrep.get("source", "")).endswith(".h5")
                   else "its int8 route lost to post-training int8 on PublicTest (route table below), so the QAT "
                        "model is not kept.\n") if qat else "")


def _init_line(cfg: dict, stage1: dict | None, init_desc: str, rec_dir: str) -> str:
    """Where the weights started: another cycle from the model released before, or the config's init."""
    if stage1:
        folder = stage1.get("folder", "stage1")
        line = (f"- Initialization: another training cycle from the previously released model (sha256 "
                f"`{stage1['sha256']}`, released in commit `{stage1['git_commit'][:12] or 'unknown'}`; its "
                f"record, card and command are in `{rec_dir}/{folder}/`).")
    else:
        line = f"- Initialization: {init_desc or '`' + str(cfg['init']) + '`'}."
    return line + f" Whole network fine-tuned: {not cfg['freeze_base']}."


def _chosen_on(out_dir: Path | None) -> str:
    f = record_dir(out_dir or MODELS) / "routes.json"
    return json.loads(f.read_text()).get("chosen_on", "PublicTest") if f.is_file() else "PublicTest"


def _card_text(run_report: dict, float_res: dict, int8_res: dict, qrep: dict, cmd: str, size: int,
               stage: dict | None, records: dict[str, str] | None, init_desc: str,
               init_as: str | None, out_rel: str, routes: str, tta: dict | None,
               out_dir: Path | None, rec_dir: str) -> str:
    cfg = run_report["config"]
    stage1 = (stage or {}).get("stage1")
    rows, per = _accuracy_rows(float_res, int8_res)
    g = qrep.get("gate", {})
    qat = cfg.get("qat_epochs", 0)
    soup = run_report.get("soup")
    stage_init = "runs/stage1/model.keras" if stage1 else None
    init_line = _init_line(cfg, stage1, init_desc, rec_dir)
    if soup:
        sec = _soup_section(soup, records, qat, rec_dir)
    elif run_report.get("blend"):
        sec = _blend_section(run_report["blend"], cfg, out_rel, rec_dir)
    else:
        sec = _run_section(run_report, cfg, init_line, stage1, stage_init, init_as, out_rel, rec_dir)
    init_line, selection, train_cmds, logs = sec["init_line"], sec["selection"], sec["train_cmds"], sec["logs"]
    steps, run_dir, conv_out = sec["steps"], sec["run_dir"], sec["conv_out"]
    prior = run_report.get("prior")
    if prior:
        init_line += "\n" + prior_text(prior, rec_dir)
        # the run converted is the corrected copy of the run the commands above remake
        prior_cmd = f"python -m train.recipes.prior --run {run_dir} --out {run_dir}_prior --data PATH"
        steps.append(prior_cmd)
        train_cmds = train_cmds.rstrip(".") + f"; then `{prior_cmd}`."
        run_dir += "_prior"
    reproduce = "\n".join(steps + [f"python -m convert.release --run {run_dir}{conv_out}"])
    distill_line = _distill_line(cfg)
    qat_line = _qat_line(cfg, qat, soup, qrep)
    return f"""# Model card: fer-edge MobileNetV2 ({cfg['recipe']} recipe)

Generated by `python -m convert.release` from the training run's own files;
no number here is typed by hand.

## Model
- MobileNetV2, width {cfg['alpha']}, working resolution {cfg['image_size']}x{cfg['image_size']}{arch_text(cfg)}, input: the raw
  48x48 grayscale face crop (gray to RGB, normalization and resizing are graph layers).
{init_line}
- Files: `{FLOAT}` (float, tf-keras), `{INT8}` (int8, {size / 1e6:.2f} MB, uint8 input `[1, 48, 48, 1]` with
  scale 1 and zero point 0, output `[1, 7]`, metadata and labels inside). Converter graph: {qrep.get('graph', {}).get('front', 'as trained')}.

## Data
- FER-2013, Kaggle image-folder layout; input sha256 `{run_report['data_checksum_sha256']}`.
- Trained on Training (28,709), {selection}, reported on PrivateTest. Clean PrivateTest drops the 288 images whose pixels
  duplicate a Training image (`python -m train.audit`).

## Training
{train_cmds}
{"- The first run's settings (each run's own are in its command above):" + chr(10) if run_report.get("blend") else ""}- Optimizer {cfg['optimizer']}, peak lr {cfg['lr']}, weight decay {cfg['weight_decay']}, {cfg['schedule']} schedule,
  warm-up {cfg['warmup_epochs']} epochs, label smoothing {cfg['label_smoothing']}, dropout {cfg['dropout']},
  class weights (N/(K n_c))^{cfg['class_weight_power']}, batch {cfg['batch_size']}, seed {cfg['seed']}.
- Augmentation: flip {cfg['flip']}, rotation +-{cfg['rotate_deg']} deg, shift {cfg['shift']}, zoom {cfg['zoom']},
  random erasing p={cfg['erase_prob']}.
{distill_line}{qat_line}- Time: {run_report['train_minutes']:.0f} min {'of training epochs (all runs, QAT not counted) and averaging ' if soup else ''}on {run_report['hardware']}. {logs}

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

Confusion matrices: `{rec_dir}/confusion_PrivateTest.png`, `{rec_dir}/confusion_PublicTest.png` (float).

## int8 route

Every route was converted and measured; the best on {_chosen_on(out_dir)} ships
(`{rec_dir}/routes.json`). `python -m convert.quantize --out X` with no model
argument converts by the shipped route again.

{routes}
{real_faces_text(out_dir, rec_dir)}{hints_text(tta, rec_dir)}{firmware_text(out_dir / INT8 if out_dir else None)}
## Reproduce
```sh
make setup
{reproduce}
```
Release command used: `{cmd}` on {platform.machine()}, {time.strftime('%Y-%m-%d')}.

## Limits
FER-2013 faces are mostly frontal, low resolution and web-sourced; labels are noisy (FER+ majority votes
agree with them on about 65% of images). The disgust class has 436 training images. Do not use the model to
make decisions about people.
"""
