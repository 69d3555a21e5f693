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

WHEEL = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
FILENAME = "face_detection_short_range.tflite"
LICENSE_NOTE = ("BlazeFace short-range face detector, from the PyPI wheel mediapipe==0.10.21, "
                "Copyright Google LLC, Apache License 2.0.\n")


def cache_dir() -> Path:
    base = os.environ.get("FER_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return (root if os.environ.get("FER_CACHE") else root / "fer-edge") / "detectors"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_detector_path() -> Path | None:
    """The verified cached BlazeFace file, ``$FER_DETECTOR`` if set, else None."""
    explicit = os.environ.get("FER_DETECTOR")
    if explicit:
        return Path(explicit)
    p = cache_dir() / FILENAME
    if p.is_file() and _sha256(p) == SHA256:
        return p
    return None


def extract_from_wheel(wheel: Path) -> Path:
    """Copy BlazeFace out of a mediapipe wheel into the cache, checking its sha256."""
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(MEMBER)
    except (zipfile.BadZipFile, OSError) as e:
        raise DetectorError(f"{wheel}: not a readable wheel ({e})") from None
    except KeyError:
        raise DetectorError(f"{wheel}: has no {MEMBER}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise DetectorError(f"{wheel}: detector sha256 {digest[:16]}... is not the pinned {SHA256[:16]}...")
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".tflite")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out / FILENAME)
    (out / "LICENSE-blazeface.txt").write_text(LICENSE_NOTE)
    return out / FILENAME


def fetch_detector(from_wheel: str | None = None, log=print) -> Path:
    """Get BlazeFace into the cache (no-op when it is there already)."""
    have = cached_detector_path()
    if have is not None and not os.environ.get("FER_DETECTOR"):
        log(f"detector ready: {have}")
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
    log(f"detector ready: {path}")
    return path
