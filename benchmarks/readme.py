"""Regenerate the generated parts of the README and of ``docs/`` from the committed result files.

    python -m benchmarks.readme          # rewrite every generated block between its markers
    python -m benchmarks.readme --check  # exit 1 if any is out of date

Blocks: the README's headline (the shipped tiers' accuracy, crop time and Pi 4
estimate, and the peers, from one benchmark run), ``docs/results.md`` (every
figure: the release and each tier, recipes, ablation, distillation, latency,
photos, the interpreter matrix) and the measured floors in
``docs/consistency.md``. Sources: ``models/<tier>/release/int8_eval.json`` and
``report.json`` (accuracy, int8 and float), ``models/records/ablation/ablation.json``
(the paper recipe and the ablation ladder) and the newest full
``benchmarks/results/*.json`` for the release model. A result file from before
a tier was retired still holds its rows; only the shipped tiers are shown.
Nothing in a block is typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import baseline, pipeline, report
from benchmarks.variants import shipped_tiers
from train.io import atomic_write_text
from train.paths import REPO

README = REPO / "README.md"
RESULTS_DOC = REPO / "docs" / "results.md"
CONSISTENCY_DOC = REPO / "docs" / "consistency.md"
BEGIN, END = "<!-- results:begin (python -m benchmarks.readme) -->", "<!-- results:end -->"
HEAD_BEGIN, HEAD_END = "<!-- headline:begin (python -m benchmarks.readme) -->", "<!-- headline:end -->"
BASE_BEGIN, BASE_END = "<!-- baseline:begin (python -m benchmarks.readme) -->", "<!-- baseline:end -->"
BASELINE_RESULT = REPO / "benchmarks" / "results" / "baseline.json"
FLOOR_BEGIN, FLOOR_END = "<!-- floors:begin (python -m benchmarks.readme) -->", "<!-- floors:end -->"
#: the kernel sets that promise the same answers: XNNPACK on x86-64, on aarch64 and in WebAssembly
XNNPACK_FAMILY = ("litert-xnnpack", "arm64-xnnpack", "browser-litertjs")


def shipped_only(r: dict) -> dict:
    """A benchmark result with the variants of retired tiers taken out (``<tier>_int8`` where the tier is no
    longer bundled), so that an older run's tables show what ships now."""
    keep = set(shipped_tiers().values())

    def retired(k: str) -> bool:
        base = k.split("+")[0]
        return base.endswith("_int8") and base not in keep

    r = dict(r)
    for key in ("tiers", "consistency", "accuracy", "tta", "variants"):
        if isinstance(r.get(key), dict):
            r[key] = {k: v for k, v in r[key].items() if not retired(k)}
    r["latency"] = [c for c in r.get("latency", []) if not retired(c["variant"])]
    if isinstance(r.get("pi4"), dict) and isinstance(r["pi4"].get("models"), dict):
        r["pi4"] = dict(r["pi4"], models={k: v for k, v in r["pi4"]["models"].items() if not retired(k)})
    if isinstance(r.get("browser"), dict) and isinstance(r["browser"].get("tiers"), dict):
        r["browser"] = dict(r["browser"], tiers={k: v for k, v in r["browser"]["tiers"].items()
                                                 if not retired(shipped_tiers().get(k, k + "_int8"))})
    return r


def latest_result() -> tuple[Path, dict] | None:
    results = sorted(p for p in (REPO / "benchmarks" / "results").glob("*-fer_mobilenetv2_int8.json"))
    if not results:
        return None
    return results[-1], shipped_only(json.loads(results[-1].read_text()))


def headline() -> str:
    """The README's short table: the shipped tiers from the newest benchmark run, and the peers of the same run."""
    lines = [HEAD_BEGIN, ""]
    got = latest_result()
    if got is None:
        return "\n".join(lines + ["No benchmark run yet (`make bench`).", "", HEAD_END])
    path, r = got
    h = r["hardware"]
    lines += [f"From one benchmark run (`{r['command'].strip()}`, {r['date']}, {h['cpu']}, {h['cores']} cores; "
              f"report `benchmarks/results/{path.with_suffix('.md').name}`). PrivateTest is FER-2013's test split, "
              "never used to choose; every figure is in [docs/results.md](docs/results.md).", ""]
    lines += report.tier_lines(r)
    pipe = r.get("pipeline")
    src = "the same run"
    if not pipe and (REPO / "benchmarks" / "results" / "pipeline.json").is_file():
        pipe = json.loads((REPO / "benchmarks" / "results" / "pipeline.json").read_text())
        src = f"`{pipe.get('command', 'python -m benchmarks.pipeline').strip()}`, {pipe['date']}, report " \
              "`benchmarks/results/pipeline.md`"
    if pipe:
        lines += ["", f"The whole pipeline ({src}):", ""] + pipeline.headline_lines(pipe)
    peer = (r.get("peers") or {}).get("fer")
    if peer:
        lines += ["", report.peer_text(peer, "Peer, in the run of the tier table")]
    return "\n".join(lines + ["", HEAD_END])


def floors() -> str:
    """docs/consistency.md's table: per shipped tier, the XNNPACK family's agreement (the promise) and each other
    kernel set's agreement with XNNPACK on x86-64 (measured floors), from the newest benchmark run."""
    lines = [FLOOR_BEGIN, ""]
    got = latest_result()
    if got is None or not got[1].get("consistency"):
        return "\n".join(lines + ["No benchmark run with the interpreter matrix yet (`make bench`).", "", FLOOR_END])
    path, r = got
    lines += [f"Benchmark run of {r['date']} (`benchmarks/results/{path.with_suffix('.md').name}`), same label as "
              "LiteRT with XNNPACK on x86-64 (what `fer-infer` runs):", "",
              "| tier | kernels | kind | crops | same label | identical outputs |", "|---|---|---|---|---|---|"]
    for tier, m in r["consistency"].items():
        for pair in m["pairs"]:
            if pair["a"] != "litert-xnnpack":
                continue
            kind = "promise (XNNPACK family)" if pair["b"] in XNNPACK_FAMILY else "measured floor"
            lines.append(f"| {tier} | {pair['b']} | {kind} | {pair.get('n', m['n'])} | {report.pct(pair['agreement'])} "
                         f"| {report.pct(pair['identical'])} |")
    return "\n".join(lines + ["", FLOOR_END])


#: the sets of a tier's real-faces table (``real_faces.json`` of ``python -m convert.release``), with what each is
REAL_FACES = (("wild_dev", "wild-dev, real web faces (choosing)"),
              ("PublicTest_FERplus", "PublicTest, FER+ majority (choosing)"),
              ("PrivateTest_FERplus", "PrivateTest, FER+ majority (reported)"))


def real_faces_lines(folder: Path) -> list[str]:
    """The int8 model of a tier on the faces people have (FER+ majority, wild-dev), when its record has them."""
    f = folder / "real_faces.json"
    if not f.is_file():
        return []
    r = json.loads(f.read_text())["int8"]
    lines = ["", f"The same int8 model on the FER+ crowd's majority labels and real web faces (`{f.relative_to(REPO)}`; "
             "recall in %):", "", "| set | faces | accuracy | macro-F1 | neutral recall | fear recall |",
             "|---|---|---|---|---|---|"]
    for k, what in REAL_FACES:
        if k in r:
            m = r[k]
            lines.append(f"| {what} | {m['n']} | {100 * m['accuracy']:.2f}% | {100 * m['macro_f1']:.2f}% | "
                         f"{100 * m['recall'].get('neutral', 0):.1f} | {100 * m['recall'].get('fear', 0):.1f} |")
    return lines


def section() -> str:
    rel = REPO / "models" / "records" / "release"
    int8 = json.loads((rel / "int8_eval.json").read_text())
    flt = json.loads((rel / "report.json").read_text())["results"]
    lines = [BEGIN, "", "Release model, FER-2013 (from `models/records/release/`, written by `python -m convert.release`):", "",
             "| split | images | float accuracy | int8 accuracy | int8 macro-F1 |", "|---|---|---|---|---|"]
    for split in ("PrivateTest", "PrivateTest_clean", "PublicTest"):
        lines.append(f"| {split} | {int8[split]['n']} | {100 * flt[split]['accuracy']:.2f}% | "
                     f"{100 * int8[split]['accuracy']:.2f}% | {100 * int8[split]['macro_f1']:.2f}% |")

    lines += real_faces_lines(rel)

    for tier in (t for t in shipped_tiers() if t != "release"):
        what = f"{tier.capitalize()} model"
        folder = REPO / "models" / "records" / tier
        if not (folder / "int8_eval.json").is_file():
            continue
        f8 = json.loads((folder / "int8_eval.json").read_text())
        ff = json.loads((folder / "report.json").read_text())
        size = ff["config"]["image_size"]
        lines += ["", f"{what} (`--model {tier}`, {size}x{size} working resolution, width {ff['config']['alpha']}; "
                  f"from `models/{tier}/`, written by `python -m convert.release --out models/{tier}`):", "",
                  "| split | images | float accuracy | int8 accuracy | int8 macro-F1 |", "|---|---|---|---|---|"]
        for split in ("PrivateTest", "PrivateTest_clean", "PublicTest"):
            lines.append(f"| {split} | {f8[split]['n']} | {100 * ff['results'][split]['accuracy']:.2f}% | "
                         f"{100 * f8[split]['accuracy']:.2f}% | {100 * f8[split]['macro_f1']:.2f}% |")
        lines += real_faces_lines(folder)
    abl = REPO / "models" / "records" / "ablation" / "ablation.json"
    if abl.is_file():
        a = json.loads(abl.read_text())
        pub = {"paper": 0.4268}
        lines += ["", "Recipes (float Keras models; `models/records/ablation/`, written by `python -m train.recipes.ablation`):", "",
                  "| run | input | epochs | images seen | PrivateTest | clean PrivateTest | published |",
                  "|---|---|---|---|---|---|---|"]
        for r in a["full_runs"]:
            lines.append(f"| {r['change']} | {r['image_size']} | {r['epochs']} | {r['images_seen']:,} | "
                         f"{report.pct(r['PrivateTest'])} | {report.pct(r['PrivateTest_clean'])} | "
                         f"{report.pct(pub.get(r['step']))} |")
        lines += ["", f"Ablation ladder, budget runs of about {a['budget']['passes_over_training']} passes over "
                  "Training each (one change per row; `models/records/ablation/ablation.md`):", "",
                  "| step | change | PrivateTest | Δ |", "|---|---|---|---|"]
        for r in a["steps"]:
            d = "" if r["delta"] is None else f"{100 * r['delta']:+.2f}"
            lines.append(f"| {r['step']} | {r['change']} | {report.pct(r['PrivateTest'])} | {d} |")
    lines += distill_lines()
    got = latest_result()
    if got:
        results, r = [got[0]], got[1]
        h = r["hardware"]
        lines += ["", f"Latency of the int8 models (`{r['command']}`, {r['date']}, {h['cpu']}, {h['cores']} cores; "
                  f"full report `benchmarks/results/{results[-1].with_suffix('.md').name}`):", ""]
        tiers = tuple(shipped_tiers().values())
        if r.get("tiers"):
            chart = f"benchmarks/results/{results[-1].stem}-accuracy-latency.png"
            lines += ["The shipped tiers (same run):", "", f"![accuracy against crop time, tiers and peers]({chart})",
                      ""] + report.tier_lines(r) + [""]
        lines += report.latency_header() + [report.latency_row(c) for c in report.primary_cells(r, tiers)]
        lines += ["", "| what | p50 |", "|---|---|"]
        lines += report.photos_lines(r)
        c = r.get("cold_start")
        if c:
            lines += [f"| fresh process to first result (median of {c['runs']}) | {1e3 * c['wall_s_median']:.0f} ms |",
                      f"| peak RSS of that process | {c['peak_rss_mb_max']:.0f} MB |"]
        peer = (r.get("peers") or {}).get("fer")
        if peer:
            lines += ["", report.peer_text(peer, "Same run")]
        if r.get("pi4"):
            lines += ["", "Raspberry Pi 4: " + report.pi4_text(r)]
        if r.get("consistency"):
            lines += ["", "Same answers on every interpreter (same run, all PrivateTest crops; "
                      "[consistency.md](consistency.md)):", ""] + report.consistency_lines(r["consistency"])
            if r.get("consistency_float"):
                lines += ["", report.float_pair_text(r["consistency_float"])]
    pipe_file = REPO / "benchmarks" / "results" / "pipeline.json"
    pipe = (got[1].get("pipeline") if got else None) or (json.loads(pipe_file.read_text()) if pipe_file.is_file()
                                                        else None)
    if pipe:
        lines += ["", pipeline.markdown(pipe).replace("# Pipeline speed", "The whole pipeline:").rstrip()]
    lines += ["", END]
    return "\n".join(lines)


def distill_lines() -> list[str]:
    """The teacher and the distillation ablation: the same student run with and without the teacher."""
    teacher = REPO / "models" / "records" / "teacher" / "teacher.json"
    if not teacher.is_file():
        return []
    t = json.loads(teacher.read_text())
    lines = ["", "Distillation and soft labels (float models; teacher from `python -m train.recipes.teacher`, `models/records/teacher/`;"
             " the runs' records in `models/records/ablation/distill_control/`, `models/records/candidates/distill/` and "
             "`models/records/ablation/ferplus_soft/`):", "",
             "| model | PublicTest | PrivateTest | clean PrivateTest |", "|---|---|---|---|"]
    e = t["ensemble"]
    lines.append(f"| teacher: {len(t['members'])} models, flip-averaged (never ships) | {e['PublicTest']:.2f}% | "
                 f"{e['PrivateTest']:.2f}% | {e['PrivateTest_clean']:.2f}% |")
    for folder, what in (("ablation/distill_control", "student without the teacher (preset `distill_control`)"),
                         ("candidates/distill", "student with the teacher (preset `distill`)"),
                         ("ablation/ferplus_soft", "the control with FER+ votes as half the target (preset "
                          "`ferplus_soft`)")):
        rep = REPO / "models" / "records" / folder / "report.json"
        if rep.is_file():
            r = json.loads(rep.read_text())["results"]
            lines.append(f"| {what} | " + " | ".join(report.pct(r[s]["accuracy"]) for s in
                                                     ("PublicTest", "PrivateTest", "PrivateTest_clean")) + " |")
    return lines


def _replace(text: str, begin: str, end: str, new: str, where: Path) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"{where}: no {begin} ... {end} markers")
    a, b = text.index(begin), text.index(end) + len(end)
    return text[:a] + new + text[b:]


def baseline_block() -> str:
    """The README's block on reading a face against the person's own baseline: the table of the newest
    ``python -m benchmarks.baseline`` run."""
    if not BASELINE_RESULT.is_file():
        return "\n".join([BASE_BEGIN, "", "No baseline run yet (`python -m benchmarks.baseline`).", "", BASE_END])
    r = json.loads(BASELINE_RESULT.read_text())
    body = baseline.summary(r).rstrip("\n")
    return "\n".join([BASE_BEGIN, "", f"From `python -m benchmarks.baseline` ({r['date']}, `{r['model']}`; "
                      "`benchmarks/results/baseline.md`). " + body, "", BASE_END])


def render(text: str) -> str:
    """The README with its generated blocks (headline, baseline) regenerated."""
    text = _replace(text, HEAD_BEGIN, HEAD_END, headline(), README)
    return _replace(text, BASE_BEGIN, BASE_END, baseline_block(), README)


def blocks() -> dict[Path, str]:
    """Every file with generated blocks -> its regenerated text."""
    return {README: render(README.read_text()),
            RESULTS_DOC: _replace(RESULTS_DOC.read_text(), BEGIN, END, section(), RESULTS_DOC),
            CONSISTENCY_DOC: _replace(CONSISTENCY_DOC.read_text(), FLOOR_BEGIN, FLOOR_END, floors(), CONSISTENCY_DOC)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        new = blocks()
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stale = [p for p, t in new.items() if p.read_text() != t]
    if "--check" in argv:
        if stale:
            print("generated blocks out of date in " + ", ".join(str(p.relative_to(REPO)) for p in stale)
                  + ": run python -m benchmarks.readme", file=sys.stderr)
            return 1
        return 0
    for p in stale:
        atomic_write_text(p, new[p])
    return 0


if __name__ == "__main__":
    sys.exit(main())
