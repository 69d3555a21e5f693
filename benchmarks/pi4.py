"""Raspberry Pi 4 latency estimate from the instructions the Pi itself would run.

    make pi4-estimate          # = make arm64-setup, then python -m benchmarks.pi4

Method:

1. Each model runs in the emulated arm64 Debian userland (``make arm64-setup``)
   under ``qemu-aarch64 -cpu cortex-a72``, the Raspberry Pi 4's core, with the
   aarch64 LiteRT wheel and its XNNPACK delegate at 1 thread, as ``fer-infer``
   runs on a 64-bit Pi OS. XNNPACK reads the CPU from ``/proc/cpuinfo``, which
   the userland gives as a Cortex-A72, and picks that core's kernels.
2. A TCG plugin (``benchmarks/insncount.c``) counts the guest instructions the
   process executes, in three classes (SIMD/FP data processing, loads and
   stores, the rest). The instructions of one inference are the count after
   2 + k invocations minus the count after 2, divided by k: start-up, weight
   packing and first-invocation costs cancel. Start-up counts of identical
   runs still vary by about ten million instructions, so k is at least ten
   and large enough for the difference to reach two billion instructions
   (under 1% of noise for every model here).
3. The same count for four float32 ImageNet networks whose Pi 4 latency
   XNNPACK publishes (``benchmarks.reference``) gives each one's milliseconds
   per instruction; a model's estimate is its instructions x the median of
   the four, and its band the smallest and largest of the four.

Counts are kept in ``build/pi4/counts.json`` under a checksum of what they
depend on (the model's bytes, the worker, the plugin's and the runtime's
source, the aarch64 wheels, the run plan), so a later run counts only what
changed; a reference is keyed by its name and that set-up instead of its
bytes, so it is counted once per aarch64 wheel version.

Nothing here depends on the x86 CPU: the counts are the aarch64 code path's,
and they are the same on any host. What the band does not cover: the
published figures are multi-threaded on 32-bit Raspbian (the estimate is for
the same conditions), and an instruction of the int8 kernels need not take the
time of one of the float kernels the rate comes from. An estimate, not a Pi
measurement.

Exit codes: 0 written, 2 set-up problem (no userland, qemu or C compiler).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import arm64, reference
from benchmarks.arm64 import SetupError
from benchmarks.variants import tier_variant
from runtime.classifier import BUNDLED
from train.io import atomic_path, atomic_write_json, atomic_write_text
from train.paths import REPO

PLUGIN_SOURCE = REPO / "benchmarks" / "insncount.c"
PLUGIN = REPO / "build" / "pi4" / "insncount.so"
OUT = REPO / "benchmarks" / "results" / "pi4-estimate"
#: counts already made, by what they depend on (see :func:`count_key`)
CACHE = REPO / "build" / "pi4" / "counts.json"
#: invocations before the measured ones, and the fewest measured
RUNS = (2, 12)
#: instructions the measured invocations must reach together
TARGET = 2e9
CLASSES = ("simd", "memory", "other")

WORKER = r"""
import sys
import numpy as np
from runtime.interpreter import find_backend, make_interpreter
it = make_interpreter(open(sys.argv[1], "rb").read(), 1, find_backend("litert"))
inp = it.get_input_details()[0]
rng = np.random.default_rng(0)
if np.issubdtype(inp["dtype"], np.integer):
    info = np.iinfo(inp["dtype"])
    x = rng.integers(info.min, info.max, inp["shape"], endpoint=True).astype(inp["dtype"])
else:
    x = rng.standard_normal(inp["shape"]).astype(inp["dtype"])
it.set_tensor(inp["index"], x)
for _ in range(int(sys.argv[2])):
    it.invoke()
"""


def build_plugin(source: Path = PLUGIN_SOURCE, out: Path = PLUGIN) -> Path:
    """Compile the instruction-counting plugin with the system C compiler (once)."""
    if out.is_file() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SetupError("no C compiler (cc) to build the instruction-counting plugin")

    with atomic_path(out, suffix=".so") as tmp:
        r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-o", str(tmp), str(source)],
                           capture_output=True, text=True)
        if r.returncode:
            raise SetupError(f"cannot build {source.name}: {(r.stderr.strip().splitlines() or ['cc failed'])[-1]}")
    return out


def _read_counts(path: Path) -> dict[str, int]:
    counts = {}
    for line in path.read_text().splitlines():
        key, value = line.split()
        counts[key] = int(value)
    if set(counts) != set(CLASSES):
        raise RuntimeError(f"unexpected plugin output in {path}")
    return counts


def _setup_parts(site: Path, runs, target: float) -> tuple[bytes, ...]:
    """What every count depends on besides the model: the worker, the plugin's
    and the runtime's source, the aarch64 wheels installed (name and version,
    from their ``.dist-info`` folders), the run plan."""
    return (WORKER.encode(), PLUGIN_SOURCE.read_bytes(), (REPO / "runtime" / "interpreter.py").read_bytes(),
            repr((tuple(runs), target)).encode(),
            "\n".join(sorted(p.name for p in Path(site).glob("*.dist-info"))).encode())


def _digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def count_key(model: Path, site: Path, runs=RUNS, target: float = TARGET) -> str:
    """What a count depends on: the model's bytes and :func:`_setup_parts`."""
    return _digest((Path(model).read_bytes(), *_setup_parts(site, runs, target)))


def reference_key(name: str, site: Path, runs=RUNS, target: float = TARGET) -> str:
    """The cache key of a published reference network: its name and the set-up
    (the aarch64 wheel versions among it), not the bytes of its ``.tflite``,
    which TensorFlow rebuilds differently from version to version. A machine
    counts each reference once per wheel version, and never needs TensorFlow
    to build a reference it has counted."""
    return _digest((f"reference:{name}".encode(), *_setup_parts(site, runs, target)))


def _known(cache: Path | None) -> dict:
    try:
        return json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    except (OSError, ValueError):
        return {}                        # an unreadable cache is counted again and rewritten


def count(model: Path, plugin: Path | None = None, rootfs=None, site=None, runs=RUNS, target: float = TARGET,
          cache: Path | None = CACHE, key: str | None = None) -> dict:
    """Guest instructions of one inference of ``model`` (per class and total).
    A count made before for the same :func:`count_key` is read from ``cache``
    (``"cached": true``); the emulated runs take minutes a model. ``key``
    replaces that key (:func:`reference_key` for the references)."""
    model = Path(model).resolve()
    key = key or count_key(model, site or arm64.SITE, runs, target)
    known = _known(cache)
    if key in known:
        return dict(known[key], cached=True)
    plugin = plugin or build_plugin()

    def run(n: int, tmp: str) -> dict[str, int]:
        out = Path(tmp) / f"{n}.txt"
        prefix, env = arm64.emulated_python(rootfs or arm64.ROOTFS, site or arm64.SITE, "qemu-aarch64",
                                            plugin=f"{plugin},out={out}")
        env["PYTHONHASHSEED"] = "0"
        r = subprocess.run(prefix + ["-c", WORKER, str(model), str(n)], capture_output=True, text=True, cwd=REPO,
                           env=env, timeout=1800)
        if r.returncode or not out.is_file():
            raise RuntimeError(f"{model.name}: " + (r.stderr.strip().splitlines() or ["emulated run failed"])[-1])
        return _read_counts(out)

    with tempfile.TemporaryDirectory(prefix="fer-pi4-") as tmp:
        base, hi = run(runs[0], tmp), run(runs[1], tmp)
        k = runs[1] - runs[0]
        pilot = sum(hi[c] - base[c] for c in CLASSES) / k
        if pilot * k < target:
            k = math.ceil(target / max(pilot, 1.0))
            hi = run(runs[0] + k, tmp)
    per = {c: (hi[c] - base[c]) / k for c in CLASSES}
    per["total"] = sum(per[c] for c in CLASSES)
    per["invocations"] = k
    if cache is not None:
        atomic_write_json(cache, dict(_known(cache), **{key: per}))
    return dict(per, cached=False)


def estimate(models: dict[str, Path], log=print) -> dict:
    """Instruction counts and Pi 4 estimates for ``{name: .tflite}``, with the
    references that calibrate them. Raises ``arm64.SetupError`` when the
    userland, qemu or the compiler is missing."""
    plugin = build_plugin()
    refs = {}
    known = _known(CACHE)
    for name, ms in reference.PUBLISHED_MS.items():
        key = reference_key(name, arm64.SITE)
        if key in known:
            c = dict(known[key], cached=True)
        else:
            path = reference.build(name)
            if path is None:
                raise RuntimeError(f"cannot build the reference {name} (TensorFlow missing)")
            log(f"  counting {name} under qemu (cortex-a72)")
            c = count(path, plugin, key=key)
        refs[name] = dict(c, published_ms=ms, ns_per_instruction=ms * 1e6 / c["total"])
    rates = [r["ns_per_instruction"] for r in refs.values()]
    rate, lo, hi = statistics.median(rates), min(rates), max(rates)
    for r in refs.values():
        r["estimate_ms"] = r["total"] * rate / 1e6
        r["error"] = r["estimate_ms"] / r["published_ms"] - 1
    out = {}
    for name, path in models.items():
        log(f"  counting {name} under qemu (cortex-a72)")
        c = count(path, plugin)
        out[name] = dict(c, ms=c["total"] * rate / 1e6, ms_low=c["total"] * lo / 1e6, ms_high=c["total"] * hi / 1e6,
                         simd_share=c["simd"] / c["total"])
    return {"method": "instructions under qemu-aarch64 -cpu cortex-a72 (LiteRT aarch64 + XNNPACK, 1 thread) "
                      "x the median ns per instruction of the published references",
            "cpu": "cortex-a72", "source": reference.SOURCE, "runs": list(RUNS),
            "ns_per_instruction": {"median": rate, "min": lo, "max": hi}, "references": refs, "models": out}


def text(e: dict, release: str = "int8") -> str:
    """One paragraph for the report and the README."""
    if e.get("error"):
        return f"No Pi 4 estimate: {e['error']}."
    ns = e["ns_per_instruction"]
    refs = ", ".join(f"{k.replace('_224', '')} {r['total'] / 1e6:.0f} M instructions for {r['published_ms']:g} ms "
                     f"({100 * r['error']:+.0f}%)" for k, r in e["references"].items())
    m = e["models"].get(release)
    head = (f"**Estimated Pi 4 latency of one crop: {m['ms']:.1f} ms (band {m['ms_low']:.1f}-{m['ms_high']:.1f} ms)**, "
            f"from {m['total'] / 1e6:.1f} M aarch64 instructions per inference ({100 * m['simd_share']:.0f}% SIMD). "
            if m else "")
    return (head + f"Method (`benchmarks/pi4.py`): instructions counted under `qemu-aarch64 -cpu cortex-a72` with the "
            f"aarch64 LiteRT wheel and XNNPACK at 1 thread, times the median of {ns['median']:.2f} ns per instruction "
            f"of four float32 references whose Pi 4 times XNNPACK publishes ({refs}; each in brackets: the median "
            f"rate's error on it); the band is their smallest and largest rate ({ns['min']:.2f}-{ns['max']:.2f} ns). "
            f"Published figures: {e['source']}. They are 4-thread times on 32-bit Raspbian, so the estimate is for "
            "those conditions, and an int8 instruction need not cost what a float one does: an estimate, not a Pi "
            "measurement.")


def markdown(e: dict) -> str:
    lines = ["# Raspberry Pi 4 estimate from aarch64 instruction counts", "",
             "Generated by `python -m benchmarks.pi4` (`make pi4-estimate`).", "", text(e), "",
             "| model | instructions per inference | SIMD/FP | loads/stores | other | published Pi 4 | estimate | band |",
             "|---|---|---|---|---|---|---|---|"]
    for k, r in e["references"].items():
        lines.append(f"| {k} (reference) | {r['total'] / 1e6:.1f} M | {r['simd'] / 1e6:.1f} M | {r['memory'] / 1e6:.1f} M "
                     f"| {r['other'] / 1e6:.1f} M | {r['published_ms']:g} ms | {r['estimate_ms']:.1f} ms | |")
    for k, m in e["models"].items():
        lines.append(f"| {k} | {m['total'] / 1e6:.1f} M | {m['simd'] / 1e6:.1f} M | {m['memory'] / 1e6:.1f} M | "
                     f"{m['other'] / 1e6:.1f} M |  | {m['ms']:.1f} ms | {m['ms_low']:.1f}-{m['ms_high']:.1f} ms |")
    reused = [k for k, r in (*e["references"].items(), *e["models"].items()) if r.get("cached")]
    if reused:
        lines += ["", "Counts made by an earlier run on this machine for the same bytes and set-up "
                  f"(`build/pi4/counts.json`): {', '.join(reused)}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pi4", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(OUT), help="writes OUT.json and OUT.md")
    a = ap.parse_args(argv)
    models = {tier_variant(tier): p for tier, p in BUNDLED.items() if Path(p).is_file()}
    try:
        e = estimate(models, log=lambda m: print(m, file=sys.stderr))
    except (SetupError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    atomic_write_json(Path(a.out + ".json"), e)
    atomic_write_text(Path(a.out + ".md"), markdown(e))
    print(markdown(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
