"""Markdown of a benchmark result (the report beside the JSON, and the README's
results section reuse the same row formatters)."""

from __future__ import annotations

from benchmarks import browser, pi4, pipeline

SPLITS = ("PrivateTest", "PublicTest", "PrivateTest_clean", "PrivateTest_FERplus_majority")


def pct(v) -> str:
    return "" if v is None else f"{100 * v:.2f}%"


def latency_header() -> list[str]:
    return ["| variant | interpreter | threads | XNNPACK | runs | p50 ms | p90 ms | p99 ms | mean ± std ms | load ms |",
            "|---|---|---|---|---|---|---|---|---|---|"]


def latency_row(c: dict) -> str:
    interp = f"{c['backend']} {c.get('backend_version', '')}".strip()
    if c.get("environment"):
        interp += " (own env)"
    x = "on" if c["xnnpack"] else "off"
    if "error" in c:
        return f"| {c['variant']} | {interp} | {c['threads']} | {x} | failed: {c['error']} | | | | | |"
    return (f"| {c['variant']} | {interp} | {c['threads']} | {x} | {c['runs']} | {c['p50']:.3f} | {c['p90']:.3f} | "
            f"{c['p99']:.3f} | {c['mean']:.3f} ± {c['std']:.3f} | {c['load_ms']:.1f} |")


def primary_cells(r: dict, variants=("int8",)) -> list[dict]:
    """Cells of the bundled int8 models (by default the release model only;
    ``micro_int8`` is the micro tier) on the preferred interpreter, XNNPACK on:
    what fer-infer runs."""
    first = r["hardware"]["interpreter"].split()[0]
    return [c for c in r["latency"] if c["variant"] in variants and c["backend"] == first
            and c["xnnpack"] and "error" not in c]


def photo_lines(p: dict) -> list[str]:
    how = "" if p.get("reduce_jpeg", True) else " (JPEG decoded at full size: `reduce_jpeg=False`)"
    return [f"| photo `{x['photo']}`: decode + detect ({p['detector']}) + crop + classify, {p['threads']} thread"
            f"{how} | {x['p50']:.2f} ms |" for x in p["per_photo"]]


def photos_lines(r: dict) -> list[str]:
    """The whole-photo rows of a run: the sample photos, then the phone-size
    JPEG decoded reduced and whole (report and README)."""
    lines = photo_lines(r["photo"]) if r.get("photo") else []
    for p in r.get("phone_photo") or []:
        lines += photo_lines(p)
    for p in r.get("detectors") or []:
        x = p["per_photo"][0]
        lines.append(f"| detector `{p['detector']}` on `{x['photo']}` ({p['size']}): decode + detect + crop + "
                     f"classify, {p['threads']} thread; faces found: {p['faces_found']} | {x['p50']:.2f} ms |")
    return lines


def pi4_text(r: dict) -> str:
    """The Pi 4 estimate and how it was made, in one paragraph (report and README)."""
    return pi4.text(r["pi4"]) if r.get("pi4") else ""


def tier_lines(r: dict) -> list[str]:
    """One row per shipped tier: accuracy, 1-thread crop time and its ratio to the
    release model's in the same run, multiply-accumulates and size (from the
    .tflite), and the Pi 4 estimate from its aarch64 instruction count."""
    tiers = r.get("tiers") or {}
    if not tiers:
        return []
    acc = r.get("accuracy") or {}
    cells = {c["variant"]: c["p50"] for c in primary_cells(r, tuple(tiers)) if c["threads"] == 1}
    base = cells.get("int8")
    pi4 = (r.get("pi4") or {}).get("models") or {}
    lines = ["| tier | FER-2013 PrivateTest | FER+ PrivateTest | wild-dev (neutral recall) | posed, people held out "
             "(angry / disgust / fear recall) | FER-2013 with flip | "
             "ms/crop, 1 thread (p50) | vs release | MACs | file | Pi 4 estimate |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, t in tiers.items():
        ms = cells.get(k)
        ratio = ms / base if ms and base else None
        e = pi4.get(k)
        est = "" if e is None else f"{e['ms']:.1f} ms ({e['ms_low']:.1f}-{e['ms_high']:.1f})"
        a = acc.get(k, {})
        lines.append(f"| {k} | {pct(a.get('PrivateTest', {}).get('accuracy'))} | "
                     f"{pct(a.get('PrivateTest_FERplus_majority', {}).get('accuracy'))} | {wild_cell(a)} | "
                     f"{posed_cell(a)} | {pct(acc.get(k + '+flip', {}).get('PrivateTest', {}).get('accuracy'))} | "
                     f"{'' if ms is None else f'{ms:.3f}'} | {'' if ratio is None else f'{ratio:.2f}x'} | "
                     f"{t['macs'] / 1e6:.1f} M | {t['bytes'] / 1024:.0f} KiB | "
                     f"{est} |")
    return lines


def wild_cell(a: dict) -> str:
    """wild-dev accuracy with the neutral recall beside it, or "" when the run had no wild-dev."""
    w = a.get("wild_dev")
    if not w:
        return ""
    neutral = w["per_class"].get("neutral", {}).get("recall")
    return f"{pct(w['accuracy'])}" + (f" ({pct(neutral)})" if neutral is not None else "")


def posed_cell(a: dict) -> str:
    """Posed faces of the people held out: accuracy with angry, disgust and fear recall, how many people, and
    whether the figure is the cross-validated estimate of the recipe; "" without them."""
    q = a.get("posed_heldout")
    if not q:
        return ""
    rec = [q["per_class"].get(c, {}).get("recall") for c in ("angry", "disgust", "fear")]
    who = (f", {q['people']} people" if q.get("people") else "") + (", cross-validated" if q.get("crossval") else "")
    return (f"{pct(q['accuracy'])}" + (" (" + " / ".join(f"{r:.2f}" for r in rec) + ")" if None not in rec else "")
            + who)


def peer_text(peer: dict, lead: str) -> str:
    """One sentence on the PyPI fer package of a benchmark run: accuracy, crop time, photo time, with ratios."""
    acc = peer["accuracy"]
    more = "".join(f", {what} {v}" for what, v in (
        ("FER+ PrivateTest", pct(acc.get("PrivateTest_FERplus_majority", {}).get("accuracy"))),
        ("wild-dev (neutral recall)", wild_cell(acc)),
        ("posed, people held out (angry / disgust / fear recall)", posed_cell(acc))) if v)
    return (f"{lead}, PyPI `fer` {peer['version']}: FER-2013 PrivateTest accuracy "
            f"{pct(acc['PrivateTest']['accuracy'])}{more}"
            f"; one crop {peer['crop_latency']['p50']:.2f} ms ({peer['crop_ratio']:.1f}x ours)"
            + (f"; its photo pipeline {peer['pipeline']['median_of_photo_medians_ms']:.1f} ms "
               f"({peer['photo_ratio']:.1f}x ours)." if peer.get("pipeline") else "."))


def consistency_lines(c: dict) -> list[str]:
    """The interpreter-consistency matrix (benchmarks.consistency) as Markdown rows, one per tier x pair."""
    lines = ["| model | kernels A | kernels B | crops | same label | largest difference | mean difference | "
             "identical outputs | accuracy A | accuracy B |", "|---|---|---|---|---|---|---|---|---|---|"]
    for tier, m in c.items():
        rows = m.get("rows") or {}
        for p in m["pairs"]:
            n = p.get("n", m["n"])
            # an accuracy over other crops than the pair's is not comparable: shown only when they match
            acc = {k: v for k, v in m.get("accuracy", {}).items() if rows.get(k, m["n"]) == n}
            lines.append(f"| {tier} | {p['a']} | {p['b']} | {n} | {pct(p['agreement'])} | {p['max_diff']} | "
                         f"{p['mean_diff']:.2f} | {pct(p['identical'])} | {pct(acc.get(p['a']))} | "
                         f"{pct(acc.get(p['b']))} |")
    return lines


def float_pair_text(f: dict) -> str:
    return (f"The float32 model converted from the same Keras model (`{f['model']}`), XNNPACK against the builtin "
            f"kernels on the same {f['n']} crops: same label on {pct(f['agreement'])}, largest probability "
            f"difference {f['max_prob_diff']:.1e}.")


def accuracy_lines(acc: dict, r_peer: dict | None = None) -> list[str]:
    """The accuracy section: every variant on every split, and F1 per class."""
    lines: list[str] = []
    if acc:
        lines += ["## Accuracy", "", "FER+ majority: the FER+ crowd's majority label on the same PrivateTest images "
                  "(images without a majority emotion left out). wild-dev: 6,852 real web faces of 2,795 people "
                  "(`../shared/data/SOURCES.md`; choosing only, never trained on), crops taken whole, with the "
                  "neutral recall beside the accuracy. Posed: `posed/`'s lab crops of the people the model never "
                  "trained on (peers: all of them; a tier trained with some people held out: those), with the angry, "
                  "disgust and fear recall; a tier trained on every posed person has the cross-validated figure of "
                  "its recipe on its int8 row (each person read by the same recipe run with that person's fold held "
                  "out: `python -m convert.release.crossval`) and none on its other rows. Agreement: top-1 agreement "
                  "with the Keras float model on PrivateTest. ECE: expected calibration error (15 bins) of the "
                  "probabilities the runtime reports (the model's temperature applied); before temperature: of "
                  "the model's raw softmax (reliability diagrams `*-reliability.png` and `*-reliability-raw.png`).", "",
                  "| variant | PrivateTest | PublicTest | clean PrivateTest | FER+ majority | wild-dev (neutral recall) "
                  "| posed (angry / disgust / fear) | macro-F1 (Private) | ECE (Private) | ECE before temperature | "
                  "agreement |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, v in acc.items():
            pt = v["PrivateTest"]
            fp = v.get("PrivateTest_FERplus_majority", {}).get("accuracy")
            lines.append(f"| {k} | {pct(pt['accuracy'])} | {pct(v['PublicTest']['accuracy'])} | "
                         f"{pct(v['PrivateTest_clean']['accuracy'])} | {pct(fp)} | {wild_cell(v)} | "
                         f"{posed_cell(v)} | {pct(pt['macro_f1'])} | "
                         f"{pt['ece']:.3f} | {'' if 'ece_raw' not in pt else format(pt['ece_raw'], '.3f')} | "
                         f"{pct(pt.get('agreement_with_float'))} |")
        first = next(iter(acc.values()))["PrivateTest"]["per_class"]
        lines += ["", "Per class on PrivateTest (F1):", "",
                  "| variant | " + " | ".join(first) + " |", "|---|" + "---|" * len(first)]
        for k, v in acc.items():
            lines.append(f"| {k} | " + " | ".join(f"{100 * c['f1']:.1f}" for c in v["PrivateTest"]["per_class"].values())
                         + " |")
        lines += real_set_lines(acc, r_peer)
        lines.append("")
    return lines


def real_set_lines(acc: dict, peer: dict | None = None) -> list[str]:
    """Recall per class, accuracy and macro-F1 on wild-dev and the posed people held out, per variant and for
    the PyPI ``fer`` peer of the same run."""
    rows = dict(acc)
    if peer and peer.get("accuracy"):
        rows[f"PyPI fer {peer.get('version', '')}".strip()] = peer["accuracy"]
    lines = []
    for key, what in (("wild_dev", "wild-dev (real web faces, choosing only)"),
                      ("posed_heldout", "posed, the people held out (lab crops, deliberate expressions)")):
        have = {k: v[key] for k, v in rows.items() if key in v}
        if not have:
            continue
        labels = list(next(iter(have.values()))["per_class"])
        lines += ["", f"On {what}: accuracy, macro-F1 and recall per class:", "",
                  "| variant | accuracy | macro-F1 | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
        for k, v in have.items():
            lines.append(f"| {k} | {pct(v['accuracy'])} | {pct(v['macro_f1'])} | "
                         + " | ".join(f"{100 * v['per_class'][c]['recall']:.1f}"
                                      if v["per_class"].get(c, {}).get("support") else "" for c in labels) + " |")
    return lines


def peer_lines(r: dict, acc: dict) -> list[str]:
    """The PyPI ``fer`` peer beside ours, measured in the same run."""
    lines: list[str] = []
    peer = (r.get("peers") or {}).get("fer")
    if peer:
        lines += ["", f"## Peer: PyPI `fer` {peer['version']} (same run)", "",
                  "| what | fer | fer-edge int8 | ratio (fer / ours) |", "|---|---|---|---|"]
        for k, v in peer.get("accuracy", {}).items():
            ours = acc.get("int8", {}).get(k, {}).get("accuracy")
            lines.append(f"| accuracy, {k} | {pct(v['accuracy'])} | {pct(ours)} | |")
        if peer.get("crop_latency"):
            lines.append(f"| classify one crop, p50 (fer: Keras model call; ours: 1 thread) | "
                         f"{peer['crop_latency']['p50']:.2f} ms | {peer['ours_crop_p50']:.3f} ms | "
                         f"{peer['crop_ratio']:.1f}x |")
        if peer.get("pipeline"):
            lines.append(f"| photo pipeline, p50 ({peer['pipeline']['photos']} photo(s); fer: Haar + classifier, "
                         f"found {peer['pipeline']['faces_found']} face(s)) | "
                         f"{peer['pipeline']['median_of_photo_medians_ms']:.1f} ms | "
                         f"{r['photo']['median_of_photo_medians_ms']:.2f} ms | {peer['photo_ratio']:.1f}x |")
    return lines


def markdown(r: dict) -> str:
    h = r["hardware"]
    wall = f", suite wall time {r['wall_s'] / 60:.1f} min" if r.get("wall_s") else ""
    lines = [f"# Benchmark: {r['model']['name']}", "",
             f"Command: `{r['command']}`  ", f"Date: {r['date']}{wall}  ",
             f"Hardware: {h['cpu']} ({h['cores']} cores, {h['machine']}), {h['os']}, Python {h['python']}, "
             f"numpy {h['numpy']}  ",
             f"Interpreters: {', '.join(h.get('interpreters', [h['interpreter']]))}; thread counts "
             f"{', '.join(map(str, r.get('threads', [])))}", ""]
    if r.get("variants"):
        lines += ["## Model variants", "", "| variant | file | size |", "|---|---|---|"]
        for k, v in r["variants"].items():
            lines.append(f"| {k} | `{v['file']}` | {v['bytes'] / 1e6:.2f} MB |")
        lines.append("")
    acc = r.get("accuracy") or {}
    lines += accuracy_lines(acc, (r.get("peers") or {}).get("fer"))
    if r.get("tiers"):
        lines += ["## Tiers", "", "The shipped models side by side, all from this run; multiply-accumulates counted "
                  "from each `.tflite` (`convert.graph.multiply_accumulates`); the Pi 4 estimate is each tier's own "
                  "aarch64 instruction count times the references' ns per instruction (Raspberry Pi 4 estimate, "
                  "below). Chart: "
                  "`*-accuracy-latency.png`.", ""] + tier_lines(r) + [""]
    lines += ["## Latency: classify one 48x48 crop", "",
              "Warm-up, then timed runs until the run count or the per-cell time budget is reached (at least 30). "
              "\"own env\": measured by `python -m benchmarks.latency` from a separate environment "
              "(tflite-runtime needs numpy<2).", ""] + latency_header()
    lines += [latency_row(c) for c in r["latency"]]
    lines += ["", "## Whole photos and start-up", "", "| what | p50 |", "|---|---|"]
    lines += photos_lines(r)
    if r.get("video"):
        v = r["video"]
        lines.append(f"| video `{v['clip']}` ({v['size']}, {v['frames']} frames): decode + faces (detector every "
                     f"{v.get('detect_every', 1)} frames, tracked between) + crop + classify every frame, "
                     f"{v['threads']} thread | {v['fps']:.1f} frames/s |")
    if r.get("cold_start"):
        c = r["cold_start"]
        lines += [f"| fresh process to first result (median of {c['runs']}) | {1e3 * c['wall_s_median']:.0f} ms |",
                  f"| peak RSS of that process | {c['peak_rss_mb_max']:.0f} MB |"]
    if r.get("pipeline"):
        lines += ["", pipeline.markdown(r["pipeline"]).replace("# Pipeline speed", "## The whole pipeline"), ""]
    if r.get("tta"):
        lines += ["", "## Flip averaging (`--tta flip`)", "",
                  "Each face classified as is and mirrored, probabilities averaged: accuracy from the rows "
                  "`<tier>+flip` above, crop time through `Classifier.run` at 1 thread, both ways interleaved "
                  "in this run.", "",
                  "| tier | PrivateTest one pass | with flip | PublicTest one pass | with flip | ms one pass (p50) | "
                  "ms with flip | time ratio |", "|---|---|---|---|---|---|---|---|"]
        for k, t in r["tta"].items():
            one, two = acc.get(k, {}), acc.get(f"{k}+flip", {})
            cell = lambda d, s: pct(d.get(s, {}).get("accuracy"))  # noqa: E731
            lines.append(f"| {k} | {cell(one, 'PrivateTest')} | {cell(two, 'PrivateTest')} | "
                         f"{cell(one, 'PublicTest')} | {cell(two, 'PublicTest')} | {t['none']['p50']:.3f} | "
                         f"{t['flip']['p50']:.3f} | {t['ratio']:.2f}x |")
    if r.get("browser"):
        p50 = {}
        for variant in browser.TIERS.values():
            cells = [c for c in primary_cells(r, (variant,)) if c["threads"] == 1]
            if cells:
                p50[variant] = cells[0]["p50"]
        lines += ["", "## In the browser (web-sample/)", ""] + browser.lines(r["browser"], p50)
    lines += peer_lines(r, acc)
    if r.get("consistency"):
        n = next(iter(r["consistency"].values()))["n"]
        lines += ["", "## Same answers on every interpreter", "",
                  f"The int8 models on {n} PrivateTest crops under each kernel set (`benchmarks.consistency`; "
                  "the emulated arm64 sets on a seeded random sample, column *crops*): share of crops with the "
                  "same label, output differences in output steps (1/256).", ""]
        lines += consistency_lines(r["consistency"])
        if r.get("consistency_float"):
            lines += ["", float_pair_text(r["consistency_float"])]
    if r.get("pi4"):
        lines += ["", "## Raspberry Pi 4 estimate", "", pi4_text(r)]
    if r.get("plots"):
        lines += ["", "## Plots", ""] + [f"- [{f}]({f})" for f in r["plots"]]
    return "\n".join(lines) + "\n"
