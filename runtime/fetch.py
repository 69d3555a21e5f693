"""Set-up step: fetch BlazeFace from the pinned PyPI wheel, verify, cache per user.

Run once with ``fer-infer --fetch-detector``; nothing is downloaded at run time.
The wheel is fetched with pip (by package name, from whatever index pip is
configured for) or read from a wheel file you already have (``--from-wheel``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .errors import DetectorError
from .files import write_file

WHEEL = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
FILENAME = "face_detection_short_range.tflite"
#: BlazeFace full-range (faces up to about 5 m away), from the same wheel
FULL_MEMBER = "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"
FULL_SHA256 = "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"
FULL_FILENAME = "face_detection_full_range_sparse.tflite"
LICENSE_NOTE = ("BlazeFace short-range and full-range face detectors, from the PyPI wheel mediapipe==0.10.21, "
                "Copyright Google LLC, Apache License 2.0.\n")


def cache_dir() -> Path:
    base = os.environ.get("FER_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return (root if os.environ.get("FER_CACHE") else root / "fer-edge") / "detectors"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached(env: str, filename: str, sha256: str) -> Path | None:
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit)
    p = cache_dir() / filename
    return p if p.is_file() and _sha256(p) == sha256 else None


def cached_detector_path() -> Path | None:
    """The verified cached BlazeFace short-range file, ``$FER_DETECTOR`` if set, else None."""
    return _cached("FER_DETECTOR", FILENAME, SHA256)


def cached_full_range_path() -> Path | None:
    """The verified cached BlazeFace full-range file, ``$FER_DETECTOR_FULL`` if set, else None."""
    return _cached("FER_DETECTOR_FULL", FULL_FILENAME, FULL_SHA256)


def extract_from_wheel(wheel: Path) -> Path:
    """Copy BlazeFace short-range and full-range out of a mediapipe wheel into
    the cache, checking each pinned sha256; returns the short-range path."""
    files = {}
    try:
        with zipfile.ZipFile(wheel) as z:
            for member, digest, name in ((MEMBER, SHA256, FILENAME), (FULL_MEMBER, FULL_SHA256, FULL_FILENAME)):
                try:
                    data = z.read(member)
                except KeyError:
                    raise DetectorError(f"{wheel}: has no {member}") from None
                got = hashlib.sha256(data).hexdigest()
                if got != digest:
                    raise DetectorError(f"{wheel}: {name} sha256 {got[:16]}... is not the pinned {digest[:16]}...")
                files[name] = data
    except (zipfile.BadZipFile, OSError) as e:
        raise DetectorError(f"{wheel}: not a readable wheel ({e})") from None
    out = cache_dir()
    for name, data in files.items():
        write_file(out / name, data)
    write_file(out / "LICENSE-blazeface.txt", LICENSE_NOTE)
    return out / FILENAME


def fetch_detector(from_wheel: str | None = None, log=print) -> Path:
    """Get BlazeFace into the cache (no-op when it is there already)."""
    have = cached_detector_path()
    if have is not None and cached_full_range_path() is not None and not os.environ.get("FER_DETECTOR"):
        log(f"detectors ready: {have} and {cached_full_range_path().name}")
        return have
    if from_wheel:
        return extract_from_wheel(Path(from_wheel))
    with tempfile.TemporaryDirectory() as tmp:
        # The .tflite inside is the same in every platform's wheel; ask for one
        # fixed platform so this works on any host (and never builds anything).
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--dest", tmp, WHEEL]
        log(f"fetching {WHEEL} with pip (once; about 36 MB) ...")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise DetectorError(f"cannot run pip ({e}); download the {WHEEL} wheel yourself and run "
                                "fer-infer --fetch-detector --from-wheel FILE.whl") from None
        wheels = list(Path(tmp).glob("mediapipe-*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise DetectorError(f"pip could not download {WHEEL}: {last}")
        path = extract_from_wheel(wheels[0])
    log(f"detectors ready: {path} and {FULL_FILENAME}")
    return path
