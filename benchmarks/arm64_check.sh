#!/bin/bash
# arm64 check: the runtime in an emulated arm64 Debian userland gives the same
# predictions as on this x86-64 machine. `make arm64-check` runs this.
#
#   1. debootstrap (first stage only: download and unpack) Debian bookworm arm64
#      with python3 into build/arm64-rootfs (once);
#   2. the runtime's wheels for linux aarch64 / CPython 3.11 (LiteRT, numpy,
#      Pillow and their dependencies) from PyPI, unpacked into the rootfs;
#   3. python -m benchmarks.arm64 writes the x86 predictions, runs the same
#      inputs under qemu-aarch64-static, and compares.
# Emulated timings are not Pi timings: nothing here is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=build/arm64-rootfs
SITE=$ROOT/opt/fer-edge/site
PY=${PYTHON:-.venv/bin/python}

need() { command -v "$1" >/dev/null || { echo "installing $2"; apt-get install -y -q "$2" >/dev/null; }; }
need debootstrap debootstrap
need qemu-aarch64-static qemu-user-static

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm "$ROOT"
fi

if [ ! -f "$SITE/.complete" ]; then
  rm -rf "$SITE" build/arm64-wheels
  "$PY" -m pip download -q --only-binary=:all: --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
      --python-version 3.11 --implementation cp -d build/arm64-wheels "ai-edge-litert==2.3.0" "numpy<2.3" Pillow
  mkdir -p "$SITE"
  for w in build/arm64-wheels/*.whl; do "$PY" -m zipfile -e "$w" "$SITE"; done
  touch "$SITE/.complete"
fi

exec "$PY" -m benchmarks.arm64 --rootfs "$ROOT" --site "$SITE" "$@"
