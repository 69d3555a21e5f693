"""``fer-infer``: facial expressions in photos, folders, globs, videos or a camera.

Exit codes:
    0  every input was processed (finding no face is a result, not a failure)
    1  some inputs failed; each is reported on its own line on stderr
    2  usage error, or an unusable model or detector
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def _version_line() -> str:
    from . import __version__
    from .interpreter import probe_backend

    b = probe_backend()
    interp = f"{b[0]} {b[1]}" if b else "no TFLite interpreter installed"
    return f"fer-infer {__version__} (fer-edge); interpreter: {interp}"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"fer-infer: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fer-infer", description="Find faces and classify their expressions with the labels of "
                "the model (the bundled models: FER-2013's seven; a fine-tuned model: its own).",
                epilog="Exit codes: 0 all inputs processed, 1 some inputs failed, 2 usage error or "
                "unusable model.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("inputs", nargs="*", help="images, folders (walked) or glob patterns; videos need OpenCV")
    p.add_argument("--version", action="store_true", help="print version and interpreter, then exit")
    p.add_argument("--model", help="a .tflite model (its labels, input size and crop rule come from the file), or "
                   "a bundled int8 tier: 'release' (the default) or 'micro' (the microcontroller model: smallest "
                   "and quickest, least accurate)")
    p.add_argument("--sample", action="store_true", help="also run on the bundled sample photo")
    p.add_argument("--no-detect", action="store_true", help="treat every input as a face crop")
    p.add_argument("--detector", default="auto", choices=["auto", "all", "short", "full", "blazeface", "haar"],
                   help="face detector: BlazeFace short-range (short, alias blazeface: faces within about 2 m), "
                   "full-range (full: farther, smaller faces), auto (short-range first; full-range and then tiles "
                   "of large photos only when the faces found so far leave room for smaller ones), all (every "
                   "pass on every photo), or OpenCV's Haar cascade")
    p.add_argument("--min-score", type=float, default=0.5, help="face detection threshold")
    p.add_argument("--align", action="store_true", help="rotate faces upright by the eye keypoints")
    p.add_argument("--min-face", type=float, default=0.0, metavar="PX",
                   help="skip faces whose box is smaller than PX pixels (longer side)")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                   help="mark a face 'uncertain' when its top probability is below P (label kept)")
    p.add_argument("--tta", default="none", choices=["none", "flip", "auto"],
                   help="test-time augmentation: flip = also classify each face mirrored and average (two model "
                   "runs a face); auto = what the model's metadata recommends")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON Lines, one object per input")
    out.add_argument("--csv", action="store_true", help="CSV, one row per face")
    p.add_argument("--top-k", type=int, default=3, help="probabilities to show per face (0 = all)")
    p.add_argument("--annotate", metavar="DIR", help="write copies of the images with boxes and labels")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads (default: 1 a worker)")
    p.add_argument("--workers", type=int, default=None, help="processes that decode, detect and classify a folder "
                   "or a list of photos in parallel (default: one a CPU core); output stays in input order")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse images with more pixels")
    p.add_argument("--camera", type=int, metavar="INDEX", help="live camera (needs OpenCV)")
    p.add_argument("--smooth", type=float, default=0.6, help="video: weight of the past in probability smoothing")
    p.add_argument("--detect-every", type=int, default=10, metavar="N",
                   help="video: run the face detector on every N-th analysed frame (and when a face is lost); in "
                   "between, each face's box follows from the last frame (1 = detect every frame)")
    sample = p.add_mutually_exclusive_group()
    sample.add_argument("--every", type=float, metavar="SECONDS", help="video: analyse one frame every SECONDS")
    sample.add_argument("--fps", type=float, metavar="N", help="video: analyse about N frames a second")
    p.add_argument("--fetch-detector", action="store_true", help="set up BlazeFace short- and full-range once (pip, pinned wheel)")
    p.add_argument("--from-wheel", metavar="WHL", help="with --fetch-detector: use this mediapipe wheel")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def expand_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """(files, errors): folders walked (symlink loops avoided), globs expanded."""
    import glob
    import os
    from pathlib import Path

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


def _worker_init(kwargs: dict, no_detect: bool, annotate: str | None) -> None:
    """A worker process of ``--workers``: its own recognizer; Ctrl-C is the parent's to handle."""
    import signal

    from .recognizer import Recognizer

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(rec=Recognizer(**kwargs), no_detect=no_detect, annotate=annotate)


def _analyse(rec, path: str, no_detect: bool, annotate: str | None):
    """One photo: ``("ok", faces, timings, size)``, ``("image", message)`` for a photo that cannot be used,
    ``("fatal", exception)`` for anything that stops the run (a broken detector)."""
    from .errors import FerError, ImageError

    try:
        faces = rec.predict(path, detect=None if not no_detect else False)
        timings, size = dict(rec.last_timings), rec.last_size
        if annotate:
            from .preprocess import load_image

            _annotate_image(path, load_image(path, rec.max_pixels), faces, annotate)
        return ("ok", faces, timings, size)
    except ImageError as e:
        return ("image", str(e))
    except FerError as e:
        return ("fatal", e)


def _analyse_in_worker(path: str):
    return _analyse(_WORKER["rec"], path, _WORKER["no_detect"], _WORKER["annotate"])


def _results(rec, kwargs: dict, files: list[str], args, workers: int):
    """``(path, result)`` in input order: in this process, or from ``workers`` processes."""
    if workers <= 1:
        for path in files:
            yield path, _analyse(rec, path, args.no_detect, args.annotate)
        return
    import multiprocessing as mp

    # fork on Linux (workers start in milliseconds); spawn elsewhere (fork is unsafe on macOS)
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ctx.Pool(workers, _worker_init, (kwargs, args.no_detect, args.annotate))
    try:
        # in order, one photo at a time a worker: a slow photo holds back only the lines after it
        for path, res in zip(files, pool.imap(_analyse_in_worker, files, chunksize=1)):
            yield path, res
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _table(path, faces, timings, top_k) -> str:
    lines = [f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''} ({timings.get('total_ms', 0):.1f} ms)"]
    for i, f in enumerate(faces):
        x, y, w, h = f.box
        top = sorted(f.probabilities.items(), key=lambda kv: -kv[1])[: (top_k or None)]
        probs = "  ".join(f"{k} {v:.2f}" for k, v in top)
        if f.label is None:
            probs, label = f"({f.reason})", "-"
        else:
            label = f.label.upper() + ("?" if f.uncertain else "")
            probs += "  (uncertain)" if f.uncertain else ""
        lines.append(f"  face {i + 1}  box {x:.0f},{y:.0f} {w:.0f}x{h:.0f}  {label:<9} {probs}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--version" in argv:                      # before any heavy import
        print(_version_line())
        return EXIT_OK
    args = build_parser().parse_args(argv)
    from .errors import FerError

    try:
        return _run(args)
    except FerError as e:
        print(f"fer-infer: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fer-infer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _run(args) -> int:
    import json
    import time
    from pathlib import Path

    if args.fetch_detector:
        from .fetch import fetch_detector

        fetch_detector(args.from_wheel, log=lambda m: print(m, file=sys.stderr))
        if not args.inputs and not args.sample:
            return EXIT_OK
    if args.threads is not None and args.threads < 1:
        print("fer-infer: error: --threads must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.top_k < 0:
        print("fer-infer: error: --top-k must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    inputs = list(args.inputs)
    if args.sample:
        inputs.append(str(Path(__file__).parent / "samples" / "astronaut.png"))
    if not inputs and args.camera is None:
        print("fer-infer: error: no input images (try --sample, or --help)", file=sys.stderr)
        return EXIT_USAGE

    from .preprocess import DEFAULT_MAX_PIXELS
    from .recognizer import Recognizer

    if args.detect_every < 1:
        print("fer-infer: error: --detect-every must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if (args.every is not None and args.every <= 0) or (args.fps is not None and args.fps <= 0):
        print("fer-infer: error: --every and --fps must be positive", file=sys.stderr)
        return EXIT_USAGE
    if args.min_face < 0 or not 0.0 <= args.min_confidence <= 1.0:
        print("fer-infer: error: --min-face must be >= 0 and --min-confidence within 0..1", file=sys.stderr)
        return EXIT_USAGE

    if args.workers is not None and args.workers < 1:
        print("fer-infer: error: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    t_start = time.perf_counter()
    kwargs = dict(model=args.model, detector="none" if args.no_detect else args.detector, threads=args.threads,
                  align=args.align, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, min_score=args.min_score,
                  tta=args.tta, min_face=args.min_face, min_confidence=args.min_confidence)
    rec = Recognizer(**kwargs)
    if args.camera is not None or any(Path(i).suffix.lower() in VIDEO_EXTS for i in inputs):
        from .video import run_video

        return run_video(rec, args, inputs)
    files, errors = expand_inputs(inputs)
    for e in errors:
        print(f"fer-infer: {e}", file=sys.stderr)
    if not files and errors:
        return EXIT_SOME_FAILED
    failed = len(errors)
    out = sys.stdout
    if args.csv:
        import csv

        writer = csv.writer(out)
        writer.writerow(["path", "face", "x", "y", "width", "height", "score", "label", "uncertain"]
                        + list(rec.classifier.labels))
    show_progress = not args.quiet and len(files) > 1 and sys.stderr.isatty()
    import os

    workers = args.workers if args.workers is not None else min(len(files), os.cpu_count() or 1)
    if workers > 1 and args.threads is None:
        kwargs["threads"] = 1            # the cores go to the workers
    for n, (path, res) in enumerate(_results(rec, kwargs, files, args, min(workers, len(files))), 1):
        if show_progress:
            print(f"\r[{n}/{len(files)}] {path[-50:]:<50}", end="", file=sys.stderr, flush=True)
        if res[0] == "fatal":
            raise res[1]
        if res[0] == "image":
            failed += 1
            if show_progress:
                print(file=sys.stderr)
            print(f"fer-infer: {res[1]}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": path, "error": res[1]}), file=out)
                out.flush()
            continue
        _, faces, timings, size = res
        if n == 1:
            timings["first_result_ms"] = (time.perf_counter() - t_start) * 1e3
        if args.json:
            rec_obj = {"path": path, "width": size[0], "height": size[1],
                       "faces": [f.to_dict(args.top_k or None) for f in faces],
                       "timings": {k: round(v, 2) for k, v in timings.items()}}
            print(json.dumps(rec_obj), file=out)
        elif args.csv:
            for i, f in enumerate(faces):
                writer.writerow([path, i + 1] + [f"{v:.1f}" for v in f.box]
                                + [f"{f.score:.4f}", f.label or "", int(f.uncertain)]
                                + [f"{f.probabilities[l]:.4f}" if f.label else "" for l in rec.classifier.labels])
        else:
            if show_progress:
                print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
            print(_table(path, faces, timings, args.top_k), file=out)
        out.flush()
    if show_progress:
        print(file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _annotate_image(path, im, faces, out_dir):
    from pathlib import Path

    import io

    from .annotate import draw_faces
    from .files import write_file

    buf = io.BytesIO()
    draw_faces(im.copy(), faces).save(buf, "PNG")
    write_file(Path(out_dir) / (Path(path).stem + ".annotated.png"), buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())
