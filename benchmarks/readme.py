"""Regenerate the README's results section from the committed result files.

    python -m benchmarks.readme          # rewrite README.md between the markers
    python -m benchmarks.readme --check  # exit 1 if README.md is out of date

Sources: ``models/release/int8_eval.json`` and ``models/release/report.json``
(accuracy of the release model, int8 and float), ``models/ablation/ablation.json``
(the paper recipe and the ablation ladder) and the newest full
``benchmarks/results/*.json`` for the release model (latency). Nothing in the
section is typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import report

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BEGIN, END = "<!-- results:begin (python -m benchmarks.readme) -->", "<!-- results:end -->"


def section() -> str:
    rel = REPO / "models" / "release"
    int8 = json.loads((rel / "int8_eval.json").read_text())
    flt = json.loads((rel / "report.json").read_text())["results"]
    lines = [BEGIN, "", "Release model, FER-2013 (from `models/release/`, written by `python -m convert.release`):", "",
             "| split | images | float accuracy | int8 accuracy | int8 macro-F1 |", "|---|---|---|---|---|"]
    for split in ("PrivateTest", "PrivateTest_clean", "PublicTest"):
        lines.append(f"| {split} | {int8[split]['n']} | {100 * flt[split]['accuracy']:.2f}% | "
                     f"{100 * int8[split]['accuracy']:.2f}% | {100 * int8[split]['macro_f1']:.2f}% |")
    for tier, what in (("fast", "Fast model"), ("micro", "Micro model")):
        folder = REPO / "models" / tier / "release"
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
    abl = REPO / "models" / "ablation" / "ablation.json"
    if abl.is_file():
        a = json.loads(abl.read_text())
        pub = {"paper": 0.4268}
        lines += ["", "Recipes (float Keras models; `models/ablation/`, written by `python -m train.ablation`):", "",
                  "| run | input | epochs | images seen | PrivateTest | clean PrivateTest | published |",
                  "|---|---|---|---|---|---|---|"]
        for r in a["full_runs"]:
            lines.append(f"| {r['change']} | {r['image_size']} | {r['epochs']} | {r['images_seen']:,} | "
                         f"{report.pct(r['PrivateTest'])} | {report.pct(r['PrivateTest_clean'])} | "
                         f"{report.pct(pub.get(r['step']))} |")
        lines += ["", f"Ablation ladder, budget runs of about {a['budget']['passes_over_training']} passes over "
                  "Training each (one change per row; `models/ablation/ablation.md`):", "",
                  "| step | change | PrivateTest | Δ |", "|---|---|---|---|"]
        for r in a["steps"]:
            d = "" if r["delta"] is None else f"{100 * r['delta']:+.2f}"
            lines.append(f"| {r['step']} | {r['change']} | {report.pct(r['PrivateTest'])} | {d} |")
    lines += distill_lines()
    results = sorted(p for p in (REPO / "benchmarks" / "results").glob("*-fer_mobilenetv2_int8.json"))
    if results:
        r = json.loads(results[-1].read_text())
        h = r["hardware"]
        lines += ["", f"Latency of the int8 models (`{r['command']}`, {r['date']}, {h['cpu']}, {h['cores']} cores; "
                  f"full report `benchmarks/results/{results[-1].with_suffix('.md').name}`):", ""]
        tiers = ("int8", "fast_int8", "micro_int8")
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
            lines += ["", f"Same run, PyPI `fer` {peer['version']}: PrivateTest accuracy "
                      f"{report.pct(peer['accuracy']['PrivateTest']['accuracy'])}; one crop "
                      f"{peer['crop_latency']['p50']:.2f} ms ({peer['crop_ratio']:.1f}x ours)"
                      + (f"; its photo pipeline {peer['pipeline']['median_of_photo_medians_ms']:.1f} ms "
                         f"({peer['photo_ratio']:.1f}x ours)." if peer.get("pipeline") else ".")]
        if r.get("pi4"):
            lines += ["", "Raspberry Pi 4: " + report.pi4_text(r)]
        if r.get("consistency"):
            lines += ["", "Same answers on every interpreter (same run, all PrivateTest crops; README section "
                      "*Same answers on every interpreter*):", ""] + report.consistency_lines(r["consistency"])
            if r.get("consistency_float"):
                lines += ["", report.float_pair_text(r["consistency_float"])]
    lines += ["", END]
    return "\n".join(lines)


def distill_lines() -> list[str]:
    """The teacher and the distillation ablation: the same student run with and without the teacher."""
    teacher = REPO / "models" / "teacher" / "teacher.json"
    if not teacher.is_file():
        return []
    t = json.loads(teacher.read_text())
    lines = ["", "Distillation and soft labels (float models; teacher from `python -m train.teacher`, `models/teacher/`;"
             " the runs' records in `models/ablation/distill_control/`, `models/candidates/distill/` and "
             "`models/ablation/ferplus_soft/`):", "",
             "| model | PublicTest | PrivateTest | clean PrivateTest |", "|---|---|---|---|"]
    e = t["ensemble"]
    lines.append(f"| teacher: {len(t['members'])} models, flip-averaged (never ships) | {e['PublicTest']:.2f}% | "
                 f"{e['PrivateTest']:.2f}% | {e['PrivateTest_clean']:.2f}% |")
    for folder, what in (("ablation/distill_control", "student without the teacher (preset `distill_control`)"),
                         ("candidates/distill", "student with the teacher (preset `distill`)"),
                         ("ablation/ferplus_soft", "the control with FER+ votes as half the target (preset "
                          "`ferplus_soft`)")):
        rep = REPO / "models" / folder / "report.json"
        if rep.is_file():
            r = json.loads(rep.read_text())["results"]
            lines.append(f"| {what} | " + " | ".join(report.pct(r[s]["accuracy"]) for s in
                                                     ("PublicTest", "PrivateTest", "PrivateTest_clean")) + " |")
    return lines


def render(text: str) -> str:
    new = section()
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        return text[:a] + new + text[b:]
    return text.replace("## Layout", "## Results\n\n" + new + "\n\n## Layout", 1)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = README.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("README results are out of date: run python -m benchmarks.readme", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
