"""``fer-infer`` on photos: inputs expanded, faces found and classified (on every
core for a folder), one line, JSON object or CSV row per photo or face, in
input order."""

from __future__ import annotations

import csv
import glob
import io
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .annotate import draw_faces
from .baseline import Baseline, Reader, auto_photos, csv_columns, face_area, largest_face, probabilities_of, reading
from .errors import EXIT_OK, EXIT_SOME_FAILED, ConfigError, FerError, ImageError
from .files import write_file
from .preprocess import load_image
from .recognizer import Recognizer

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


@dataclass
class PhotoOptions:
    """How :func:`run_photos` reports (``fer-infer``'s photo flags).

    Attributes:
        output: "table", "json" (a line a photo) or "csv" (a row a face).
        top_k: probabilities shown a face (0 = all).
        detect: find faces (False: every input is a face crop).
        annotate: a folder for annotated copies ("" = none).
        workers: processes for a list of photos (None: one a CPU core).
        threads_free: the interpreter's threads were not set, so each worker takes one.
        progress: a progress line on a terminal.
        reader: how faces are read against the person's baseline (:class:`runtime.baseline.Reader`;
            None: plainly). "reference": every face against ``--neutral``'s photos; "auto": the photos
            are one sitting of one person, the largest face of each read against the others.
    """

    output: str = "table"
    top_k: int = 3
    detect: bool = True
    annotate: str = ""
    workers: int | None = None
    threads_free: bool = True
    progress: bool = True
    reader: Reader | None = None


def reference_baseline(rec: Recognizer, paths: list[str]) -> Baseline:
    """The baseline of ``--neutral``'s photos and folders: the largest face of each."""
    files, errors = expand_inputs(paths)
    if errors:
        raise ConfigError(f"--neutral {errors[0]}")
    if not files:
        raise ConfigError(f"--neutral {' '.join(paths)}: no photos there")
    base = Baseline()
    for f in files:
        try:
            faces = rec.predict(f)
        except ImageError as e:
            raise ConfigError(f"--neutral {e}") from None
        base.add(probabilities_of(largest_face(faces, f"--neutral {f}"), rec.classifier.labels))
    return base


def _read_against(reader: Reader, results: list) -> list:
    """``results`` (of :func:`_results`) with their faces read against the person's baseline as ``reader``
    says: every face against the reference, or the largest face of each photo against the others (auto)."""
    labels = reader.labels
    if reader.mode == "reference":
        for _, res in results:
            for f in (res[1] if res[0] == "ok" else []):
                if f.label is not None:
                    f.label, f.baseline = reading(reader, probabilities_of(f, labels))
        return results
    people = []
    for _, res in results:
        faces = [f for f in res[1] if f.label is not None] if res[0] == "ok" else []
        for f in faces:
            f.baseline = {"mode": "plain", "reason": "not the largest face of its photo"}
        if faces:
            people.append(max(faces, key=face_area))
    for f, (label, info) in zip(people, auto_photos(reader, [probabilities_of(f, labels) for f in people])):
        f.label, f.baseline = label, info
    return results


def expand_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """(files, errors): folders walked (symlink loops avoided), globs expanded."""
    files, errors = [], []
    for item in items:
        p = Path(item)
        if p.is_dir() and p.suffix.lower() not in IMAGE_EXTS:
            seen = set()
            for root, dirs, names in os.walk(p, followlinks=True):
                try:
                    key = os.stat(root).st_ino, os.stat(root).st_dev
                except OSError:
                    continue
                if key in seen:           # a symbolic-link loop
                    dirs[:] = []
                    continue
                seen.add(key)
                dirs.sort()
                for n in sorted(names):
                    if Path(n).suffix.lower() in IMAGE_EXTS:
                        files.append(os.path.join(root, n))
        elif p.exists() or p.is_symlink():
            files.append(item)
        elif any(ch in item for ch in "*?["):
            hits = sorted(glob.glob(item, recursive=True))
            if hits:
                files.extend(h for h in hits if not Path(h).is_dir() or Path(h).suffix.lower() in IMAGE_EXTS)
            else:
                errors.append(f"{item}: no file matches")
        else:
            errors.append(f"{item}: no such file or directory")
    return files, errors


_WORKER = {}


def _worker_init(kwargs: dict, no_detect: bool, annotate: str) -> None:
    """A worker process of ``--workers``: its own recognizer; Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(rec=Recognizer(**kwargs), no_detect=no_detect, annotate=annotate)


def _analyse(rec, path: str, no_detect: bool, annotate: str):
    """One photo: ``("ok", faces)`` (a :class:`runtime.recognizer.Faces`: with its timings and size),
    ``("image", message)`` for a photo that cannot be used, ``("fatal", exception)`` for anything that stops
    the run (a broken detector)."""
    try:
        faces = rec.predict(path, detect=None if not no_detect else False)
        if annotate:
            _annotate_image(path, load_image(path, rec.max_pixels), faces, annotate)
        return ("ok", faces)
    except ImageError as e:
        return ("image", str(e))
    except FerError as e:
        return ("fatal", e)


def _analyse_in_worker(path: str):
    return _analyse(_WORKER["rec"], path, _WORKER["no_detect"], _WORKER["annotate"])


def _results(rec, kwargs: dict, files: list[str], opts: PhotoOptions, workers: int):
    """``(path, result)`` in input order: in this process, or from ``workers`` processes."""
    if workers <= 1:
        for path in files:
            yield path, _analyse(rec, path, not opts.detect, opts.annotate)
        return

    # fork on Linux (workers start in milliseconds); spawn elsewhere (fork is unsafe on macOS)
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ctx.Pool(workers, _worker_init, (kwargs, not opts.detect, opts.annotate))
    try:
        # in order, one photo at a time a worker: a slow photo holds back only the lines after it
        for path, res in zip(files, pool.imap(_analyse_in_worker, files, chunksize=1)):
            yield path, res
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _table(path, faces, top_k) -> str:
    lines = [f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''} ({faces.timings.get('total_ms', 0):.1f} ms)"]
    for i, f in enumerate(faces):
        x, y, w, h = f.box
        top = sorted(f.probabilities.items(), key=lambda kv: -kv[1])[: (top_k or None)]
        probs = "  ".join(f"{k} {v:.2f}" for k, v in top)
        if f.label is None:
            probs, label = f"({f.reason})", "-"
        else:
            label = f.label.upper() + ("?" if f.uncertain else "")
            probs += "  (uncertain)" if f.uncertain else ""
            b = f.baseline or {}
            if b.get("rise") is not None:
                probs += f"  (against the {b['mode']} baseline of {b['faces']} face{'s' * (b['faces'] != 1)}; " \
                         f"plainly {b['plain_label']})"
        lines.append(f"  face {i + 1}  box {x:.0f},{y:.0f} {w:.0f}x{h:.0f}  {label:<9} {probs}")
    return "\n".join(lines)


def run_photos(rec: Recognizer, kwargs: dict, inputs: list[str], opts: PhotoOptions, started: float) -> int:
    """Photos, folders (walked) and globs in ``inputs``, each reported as ``opts``
    says; a photo that cannot be used is reported on its own line and the rest
    go on. ``kwargs`` rebuild ``rec`` in each worker process; ``started`` (a
    ``time.perf_counter()``) dates the first result's ``first_result_ms``.
    Returns 1 when an input failed, else 0."""
    files, errors = expand_inputs(inputs)
    for e in errors:
        print(f"fer-infer: {e}", file=sys.stderr)
    if not files and errors:
        return EXIT_SOME_FAILED
    failed = len(errors)
    out = sys.stdout
    read = opts.reader is not None
    if opts.output == "csv":
        writer = csv.writer(out)
        writer.writerow(["path", "face", "x", "y", "width", "height", "score", "detector", "label", "uncertain"]
                        + (["baseline", "plain_label"] if read else []) + list(rec.classifier.labels))
    show_progress = opts.progress and len(files) > 1 and sys.stderr.isatty()

    workers = opts.workers if opts.workers is not None else min(len(files), os.cpu_count() or 1)
    if workers > 1 and opts.threads_free:
        kwargs["threads"] = 1            # the cores go to the workers
    results = _results(rec, kwargs, files, opts, min(workers, len(files)))
    if read:      # reference: as they come; auto: the whole sitting first
        results = (_read_against(opts.reader, [r])[0] for r in results) if opts.reader.mode == "reference" \
            else iter(_read_against(opts.reader, list(results)))
    for n, (path, res) in enumerate(results, 1):
        if show_progress:
            print(f"\r[{n}/{len(files)}] {path[-50:]:<50}", end="", file=sys.stderr, flush=True)
        if res[0] == "fatal":
            raise res[1]
        if res[0] == "image":
            failed += 1
            if show_progress:
                print(file=sys.stderr)
            print(f"fer-infer: {res[1]}", file=sys.stderr)
            if opts.output == "json":
                print(json.dumps({"path": path, "error": res[1]}), file=out)
                out.flush()
            continue
        faces = res[1]
        if n == 1:
            faces.timings["first_result_ms"] = (time.perf_counter() - started) * 1e3
        if opts.output == "json":
            rec_obj = {"path": path, "width": faces.size[0], "height": faces.size[1],
                       "faces": [f.to_dict(opts.top_k or None) for f in faces],
                       "timings": {k: round(v, 2) for k, v in faces.timings.items()}}
            print(json.dumps(rec_obj), file=out)
        elif opts.output == "csv":
            for i, f in enumerate(faces):
                writer.writerow([path, i + 1] + [f"{v:.1f}" for v in f.box]
                                + [f"{f.score:.4f}", f.detector, f.label or "", int(f.uncertain)]
                                + (csv_columns(f.baseline, f.label) if read else [])
                                + [f"{f.probabilities[l]:.4f}" if f.label else "" for l in rec.classifier.labels])
        else:
            if show_progress:
                print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
            print(_table(path, faces, opts.top_k), file=out)
        out.flush()
    if show_progress:
        print(file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _annotate_image(path, im, faces, out_dir):
    buf = io.BytesIO()
    draw_faces(im.copy(), faces).save(buf, "PNG")
    write_file(Path(out_dir) / (Path(path).stem + ".annotated.png"), buf.getvalue())
