"""Record one trained point of the accuracy-latency frontier, kept or not.

    python -m convert.release.frontier --run runs/micro --out models/records/frontier/micro-a050-b12-h192

converts the run's model (``model.keras`` of a finished run, else its best
checkpoint ``best.keras``) to int8 by the default route and measures it:
file size, operators, multiply-accumulates (counted from the ``.tflite``),
the TFLM tensor arena for microcontroller-sized files, int8 accuracy on
PublicTest, PrivateTest and clean PrivateTest, and the 1-thread crop time as a
ratio to the bundled release model timed in the same call. It writes
``point.json`` beside a copy of the run's record (config, history, data
checksum, log), never the weights, and regenerates ``models/records/frontier/README.md``
from every point. Exit codes: 0 written, 2 bad run folder or data, 5 the
conversion failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from convert.firmware import TFLM_MAX_BYTES, FirmwareError, measure, operators
from convert.graph import multiply_accumulates
from convert.graph import operators as graph_operators
from convert.quantize import GateError, QuantizationConfig, quantize
from convert.release.routes import evaluate_tflite
from convert.timing import interleaved
from runtime.classifier import BUNDLED_MODEL, Classifier
from runtime.errors import DataError, ModelError
from train import config, fer2013
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO

FRONTIER = REPO / "models" / "records" / "frontier"
RECORD = ("config.yaml", "history.csv", "history.json", "data.json", "report.json", "train.log")


def _crop_ratio(path: Path, reference: Path, rounds: int = 3) -> dict:
    """p50 ms of one crop through ``run_raw`` at 1 thread, this model and the
    reference interleaved in ``rounds`` passes."""
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    clfs = {"point": Classifier(path, threads=1), "release": Classifier(reference, threads=1)}
    stats = interleaved({k: (lambda c=c: c.run_raw(crop)) for k, c in clfs.items()}, rounds, 200 * rounds,
                        1.0 * rounds)
    out = {k: v["p50"] for k, v in stats.items()}
    return {"ms": out["point"], "release_ms": out["release"], "ratio": out["point"] / out["release"]}


def measure_point(model: Path, data, data_arg, log=print) -> dict:
    """Convert ``model`` to int8 and measure it (see the module docstring)."""
    with tempfile.TemporaryDirectory() as d:
        tfl = Path(d) / "point.tflite"
        rep = quantize(model, tfl, QuantizationConfig.for_int8(samples=300), data=data_arg, log=log)
        raw = tfl.read_bytes()
        out = {"bytes": len(raw), "macs": multiply_accumulates(raw), "graph": rep["graph"]["front"],
               "operators": sorted(set(graph_operators(raw)))}
        acc = evaluate_tflite(tfl, data)
        out["int8"] = {k: v["accuracy"] for k, v in acc.items()}
        out["float_PublicTest_gate"] = rep["gate"]["float_accuracy"]
        if len(raw) <= TFLM_MAX_BYTES:
            try:
                operators(raw)
                out["tflm_arena"] = measure(tfl)["total"]
            except FirmwareError as e:
                out["tflm"] = str(e)
        out["latency_1thread"] = _crop_ratio(tfl, BUNDLED_MODEL)
    return out


def table(root: Path = FRONTIER) -> str:
    """models/records/frontier/README.md from every point.json under ``root``."""
    rows = []
    for f in sorted(root.glob("*/point.json")):
        p = json.loads(f.read_text())
        c, m = p["config"], p["measured"]
        arena = f"{m['tflm_arena'] / 1024:.1f} KiB" if "tflm_arena" in m else ""
        rows.append(f"| `{f.parent.name}` | {c['image_size']} | {c['alpha']} | {c.get('blocks', 17)} | "
                    f"{c.get('head_channels') or 1280} | {p['epochs_trained']}/{c['epochs']} | "
                    f"{100 * m['int8']['PublicTest']:.2f}% | {100 * m['int8']['PrivateTest']:.2f}% | "
                    f"{100 * m['int8']['PrivateTest_clean']:.2f}% | {m['bytes'] / 1024:.0f} KiB | "
                    f"{m['macs'] / 1e6:.1f} M | {m['latency_1thread']['ratio']:.2f}x | "
                    f"{arena} | {p['status']} |")
    return ("# Frontier points\n\n"
            "Every (working resolution, width, depth) point trained for the model tiers, kept or not, measured\n"
            "by `python -m convert.release.frontier` (int8, default route: post-training, 300 calibration faces).\n"
            "Each folder holds the run's record (config, history, data checksum, log) and `point.json`; no\n"
            "weights. Crop time: 1 thread, as a ratio to the bundled release model timed in the same call.\n"
            "Choose on PublicTest; PrivateTest is reported.\n\n"
            "| point | px | width | blocks | last 1x1 | epochs | int8 PublicTest | int8 PrivateTest | "
            "clean PrivateTest | file | MACs | crop time | TFLM arena | status |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.release.frontier", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="training run folder (finished or stopped)")
    p.add_argument("--out", required=True, help="record folder, e.g. models/records/frontier/NAME")
    p.add_argument("--status", default="", help="why the point is kept or not (one line)")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    a = p.parse_args(argv)
    run, out = Path(a.run), Path(a.out)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        cfg_file = run / "config.yaml"
        model = run / "model.keras" if (run / "model.keras").is_file() else run / "best.keras"
        if not cfg_file.is_file() or not model.is_file():
            raise DataError(f"{run} is not a training run folder (config.yaml and model.keras or best.keras)")
        cfg = config.load_preset(str(cfg_file)).to_dict()
        hist = json.loads((run / "history.json").read_text()) if (run / "history.json").is_file() else []
        val = [e["val_accuracy"] for e in hist]
        data = fer2013.load(fer2013.find_data(a.data))
        measured = measure_point(model, data, a.data, log)
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ModelError, GateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 5
    out.mkdir(parents=True, exist_ok=True)
    for f in RECORD:
        if (run / f).is_file():
            shutil.copy2(run / f, out / f)
    point = {"command": f"{config.command(cfg)} --data PATH --out {run}",
             "record_command": "python -m convert.release.frontier " + " ".join(argv if argv is not None else sys.argv[1:]),
             "date": time.strftime("%Y-%m-%d %H:%M"), "config": cfg, "weights": model.name,
             "epochs_trained": len(val), "best_val_PublicTest": max(val) if val else None,
             "status": a.status or ("finished" if model.name == "model.keras" else "stopped"),
             "measured": measured}
    atomic_write_json(out / "point.json", point)
    atomic_write_text(out.parent / "README.md", table(out.parent))
    m = measured
    log(f"{out.name}: int8 PublicTest {100 * m['int8']['PublicTest']:.2f}%, PrivateTest "
        f"{100 * m['int8']['PrivateTest']:.2f}%, {m['bytes'] / 1024:.0f} KiB, {m['macs'] / 1e6:.1f} M MACs, "
        f"crop time {m['latency_1thread']['ratio']:.2f}x release")
    return 0


if __name__ == "__main__":
    sys.exit(main())
