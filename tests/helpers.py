"""Test helpers that need the network's package registry once per machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEEL_DIR = Path(os.environ.get("FER_TEST_WHEELS", Path.home() / ".cache" / "fer-edge-test" / "wheels"))


def mediapipe_wheel() -> Path:
    """The pinned mediapipe wheel (BlazeFace and the TFLite metadata schema)."""
    from runtime.fetch import WHEEL

    have = sorted(WHEEL_DIR.glob("mediapipe-0.10.21-*.whl"))
    if have:
        return have[0]
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-d", str(WHEEL_DIR),
                        WHEEL], capture_output=True, text=True)
    have = sorted(WHEEL_DIR.glob("mediapipe-0.10.21-*.whl"))
    if r.returncode or not have:
        pytest.skip(f"cannot download {WHEEL}: {r.stderr.strip()[-200:]}")
    return have[0]


def metadata_schema_module():
    """MediaPipe's generated reader for the standard TFLite metadata schema."""
    wheel = mediapipe_wheel()
    out = WHEEL_DIR / "metadata_schema_py_generated.py"
    if not out.is_file():
        with zipfile.ZipFile(wheel) as z:
            out.write_bytes(z.read("mediapipe/tasks/metadata/metadata_schema_py_generated.py"))
    spec = importlib.util.spec_from_file_location("mp_metadata_schema", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
