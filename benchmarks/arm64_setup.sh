#!/bin/bash
# The emulated arm64 Debian userland that `make arm64-check`, `make pi4-estimate`
# and the benchmark's arm64 consistency columns run the runtime in
# (`make arm64-setup` runs this; each step is skipped when already done):
#
#   1. debootstrap (first stage: download and unpack, no arm64 code runs) Debian
#      bookworm arm64 with python3 into build/arm64-rootfs;
#   2. the runtime's wheels for linux aarch64 / CPython 3.11 (LiteRT, numpy,
#      Pillow and their dependencies) from PyPI, unpacked into the rootfs.
#
# qemu-user-static runs it; qemu-user (the dynamically linked build) is also
# installed because only it loads TCG plugins (the instruction counter of
# benchmarks/pi4.py). Emulated timings are not Pi timings: nothing is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=build/arm64-rootfs
SITE=$ROOT/opt/fer-edge/site
PY=${PYTHON:-.venv/bin/python}

need() { command -v "$1" >/dev/null || { echo "installing $2"; apt-get install -y -q "$2" >/dev/null; }; }
need debootstrap debootstrap
need qemu-aarch64-static qemu-user-static
need qemu-aarch64 qemu-user

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm "$ROOT"
  # The first stage unpacks only the base set; python3 and what it needs are
  # downloaded but unpacked by the (arm64) second stage: unpack them here.
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi

# qemu-user shows the x86 host's /proc/cpuinfo to the arm64 process, and
# XNNPACK's CPU detection crashes on it; with -L, qemu reads this file instead:
# two Cortex-A72 cores (the Raspberry Pi 4's CPU, emulated as QEMU_CPU=cortex-a72).
mkdir -p "$ROOT/proc"
python3 - "$ROOT/proc/cpuinfo" <<'PY'
import sys
core = ("processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        "CPU revision\t: 3\n\n")
open(sys.argv[1], "w").write("".join(core.format(i=i) for i in range(2)))
PY

if [ ! -f "$SITE/.complete" ]; then
  rm -rf "$SITE" build/arm64-wheels
  "$PY" -m pip download -q --only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 \
      --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
      --python-version 3.11 --implementation cp -d build/arm64-wheels "ai-edge-litert==2.3.0" "numpy<2.3" Pillow
  mkdir -p "$SITE"
  for w in build/arm64-wheels/*.whl; do "$PY" -m zipfile -e "$w" "$SITE"; done
  touch "$SITE/.complete"
fi

echo "arm64 userland ready: $ROOT"
