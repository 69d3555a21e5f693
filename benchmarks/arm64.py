"""Same predictions on arm64 as on x86-64: the runtime under qemu-aarch64-static.

Run by ``make arm64-check`` (``make arm64-setup``, ``benchmarks/arm64_setup.sh``,
builds the arm64 userland first). The same worker code runs twice, natively and emulated, on
the same inputs: FER-2013 PrivateTest crops (the first ``--n``) through the
bundled int8 model, and the bundled sample photo through the whole pipeline
(BlazeFace, crop, classify) when the detector is fetched. The comparison
(labels, raw int8 outputs, boxes) is written to
``benchmarks/results/arm64-check.json``. Nothing is timed: emulated timings
are not Pi timings.

Exit codes: 0 same predictions, 1 they differ, 2 set-up problem.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from train import fer2013
from train.io import atomic_write_json
from train.paths import REPO

OUT = REPO / "benchmarks" / "results" / "arm64-check.json"
#: what ``benchmarks/arm64_setup.sh`` builds
ROOTFS = REPO / "build" / "arm64-rootfs"
SITE = ROOTFS / "opt" / "fer-edge" / "site"
#: the CPU qemu emulates: the Raspberry Pi 4's (XNNPACK picks its kernels for it)
CPU = "cortex-a72"


class SetupError(RuntimeError):
    """The arm64 userland or qemu is missing."""


def emulated_python(rootfs: Path = ROOTFS, site: Path = SITE, qemu: str = "qemu-aarch64-static",
                    plugin: str | None = None) -> tuple[list[str], dict]:
    """The command prefix and environment that run the userland's Python 3.11
    under qemu-user (emulating a Cortex-A72) with the runtime's aarch64 wheels
    and this checkout on its path. ``plugin``: a TCG plugin argument for
    ``-plugin`` (only the dynamically linked ``qemu-aarch64`` loads plugins)."""
    rootfs, site = Path(rootfs).resolve(), Path(site).resolve()
    py = rootfs / "usr" / "bin" / "python3.11"
    if not py.is_file() or not (site / ".complete").is_file():
        raise SetupError(f"{rootfs} is not ready: run make arm64-setup")
    if shutil.which(qemu) is None:
        raise SetupError(f"{qemu} not found: run make arm64-setup")
    env = dict(os.environ, PYTHONPATH=f"{site}:{REPO}", PYTHONNOUSERSITE="1", QEMU_LD_PREFIX=str(rootfs),
               QEMU_CPU=CPU, FER_INTERPRETER="litert")
    env.pop("PYTHONHOME", None)
    prefix = [qemu, "-L", str(rootfs)] + (["-plugin", plugin] if plugin else []) + [str(py)]
    return prefix, env

WORKER = r"""
import json, platform, sys
import numpy as np
from runtime.classifier import Classifier, BUNDLED_MODEL
from runtime.interpreter import find_backend
crops = np.load(sys.argv[1])
clf = Classifier(BUNDLED_MODEL, threads=1)
raw = [clf.run_raw(c).reshape(-1).tolist() for c in crops]
photo = None
try:
    from runtime.recognizer import Recognizer
    faces = Recognizer(BUNDLED_MODEL, threads=1, detector="blazeface").predict(sys.argv[3])
    photo = [{"box": f.box, "label": f.label, "probabilities": f.probabilities} for f in faces]
except Exception as e:
    photo = {"error": str(e).splitlines()[0]}
b = find_backend()
json.dump({"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
           "interpreter": f"{b.name} {b.version}", "raw": raw, "photo": photo}, open(sys.argv[2], "w"))
"""


def run_worker(cmd_prefix: list[str], crops: Path, out: Path, photo: Path, env: dict) -> dict:
    r = subprocess.run(cmd_prefix + ["-c", WORKER, str(crops), str(out), str(photo)], capture_output=True,
                       text=True, cwd=REPO, env=env, timeout=3600)
    if r.returncode:
        raise RuntimeError((r.stderr.strip().splitlines() or ["worker failed"])[-1])
    return json.loads(out.read_text())


def compare(a: dict, b: dict) -> dict:
    ra, rb = np.asarray(a["raw"], np.int64), np.asarray(b["raw"], np.int64)
    out = {"crops": int(len(ra)), "same_label": int((ra.argmax(1) == rb.argmax(1)).sum()),
           "identical_outputs": int((ra == rb).all(1).sum()), "max_raw_difference": int(np.abs(ra - rb).max())}
    pa, pb = a["photo"], b["photo"]
    if isinstance(pa, list) and isinstance(pb, list):
        out["photo_faces"] = [len(pa), len(pb)]
        out["photo_same_labels"] = [x["label"] for x in pa] == [x["label"] for x in pb]
        out["photo_max_box_difference_px"] = (float(max(abs(u - v) for x, y in zip(pa, pb)
                                                        for u, v in zip(x["box"], y["box"])))
                                              if pa and len(pa) == len(pb) else None)
    else:
        out["photo"] = {"x86": pa if not isinstance(pa, list) else "ok",
                        "arm64": pb if not isinstance(pb, list) else "ok"}
    out["pass"] = (out["same_label"] == out["crops"] and out["max_raw_difference"] <= 1
                   and out.get("photo_same_labels", True) is not False)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.arm64", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rootfs", default=str(ROOTFS), help="arm64 Debian userland (debootstrap)")
    ap.add_argument("--site", default=str(SITE), help="folder with the aarch64 wheels unpacked")
    ap.add_argument("--n", type=int, default=300, help="PrivateTest crops to compare")
    ap.add_argument("--data", help="FER-2013 (default: $FER_DATA)")
    ap.add_argument("--qemu", default="qemu-aarch64-static")
    a = ap.parse_args(argv)
    try:
        prefix, env_arm = emulated_python(Path(a.rootfs), Path(a.site), a.qemu)
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    path = fer2013.find_data(a.data)
    if path is None:
        print("error: FER-2013 not found: pass --data PATH or set FER_DATA", file=sys.stderr)
        return 2
    split = fer2013.load(path).split("PrivateTest")
    photo = REPO / "runtime" / "samples" / "astronaut.png"
    with tempfile.TemporaryDirectory(prefix="fer-arm64-") as tmp:
        crops = Path(tmp) / "crops.npy"
        np.save(crops, split.images[: a.n])
        env = dict(os.environ, PYTHONPATH=str(REPO), FER_INTERPRETER="litert")
        print(f"x86-64: {a.n} crops and {photo.name}", file=sys.stderr)
        x86 = run_worker([sys.executable], crops, Path(tmp) / "x86.json", photo, env)
        print(f"arm64 under {a.qemu} (slow: emulated)", file=sys.stderr)
        arm = run_worker(prefix, crops, Path(tmp) / "arm.json", photo, env_arm)
    result = {"command": "make arm64-check", "host": platform.machine(), "emulated": arm["machine"],
              "x86": {k: x86[k] for k in ("machine", "python", "numpy", "interpreter")},
              "arm64": {k: arm[k] for k in ("machine", "python", "numpy", "interpreter")},
              "data_checksum_sha256": split.checksum, **compare(x86, arm)}

    atomic_write_json(OUT, result)
    print(json.dumps(result, indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
