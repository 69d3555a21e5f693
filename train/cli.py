"""The training command's edge: flags, the resolved config, the data source, the
run, its report. ``python -m train`` (the user's path) and ``python -m
train.recipes`` (the lab's FER-2013 recipes with soft targets) share it and
differ only in where their data comes from.

Exit codes: the one map of :mod:`runtime.errors` (0 done, 2 bad flag or config,
a malformed TF_CONFIG too, 3 data problem, 5 cannot write the output, 6 a peer
of a multi-worker run stops answering, 130 interrupted).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml  # noqa: F401  (a missing PyYAML fails here, with the training extra named)

from runtime.errors import ConfigError, run_command

from . import config, distributed, loop, own_run, report, sources, user_folder_report
from .config import TrainConfig

#: flags that only mean something for a user's folder
FOLDER_FLAGS = ("labels", "val_data", "val_split", "group")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", help="preset name (train/presets) or a YAML file (default: 'own' for a folder of "
                                    "your own labelled photos, else 'release')")
    p.add_argument("--data", help="your photos, DIR/<label>/<image> (labels: the folder names), or FER-2013's "
                                  "image-folder root or fer2013.csv (default: $FER_DATA)")
    p.add_argument("--labels", help="your folder: the label order, comma-separated (default: folder names, sorted)")
    p.add_argument("--no-detect", action="store_true", help="your folder: every image is a face crop already "
                                                             "(default: find faces as fer-infer does)")
    p.add_argument("--val", dest="val_data", help="your folder: a separate validation folder (same layout)")
    p.add_argument("--val-split", type=float, help="your folder: share of each label held out for validation "
                                                   "(default 0.2)")
    p.add_argument("--group", help="your folder: regular expression whose first group on a file name is the person "
                                   "(e.g. '^(S[0-9]+)_'), so nobody is on both sides of the split")
    p.add_argument("--out", help="run folder (default: the preset's)")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--init", help="random, imagenet, torchvision, release, a .h5/.pth weights file, or a trained "
                                  ".keras model (another cycle)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], help="distribution strategy")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    p.add_argument("--evaluate-only", action="store_true", help="only write the report of a finished run")
    return p


def resolve(args) -> TrainConfig:
    """The run's config: a finished run's own (``--resume``, ``--evaluate-only``),
    else the preset, then ``--set`` and the flags on top."""
    saved = Path(args.out) / "config.yaml" if args.out else None
    if (args.resume or args.evaluate_only) and saved is not None and saved.is_file():
        cfg = config.load_preset(str(saved))
    else:
        preset = args.preset or ("own" if sources.is_user_folder(args.data) else "release")
        cfg = config.load_preset(preset)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k] = v
    for k in ("data", "out", "epochs", "init", "strategy") + FOLDER_FLAGS:
        if getattr(args, k) is not None:
            overrides[k] = getattr(args, k)
    if args.no_detect:
        overrides["detect"] = "false"
    if overrides and not (args.resume or args.evaluate_only):
        overrides["user_set"] = ",".join(sorted(set(overrides) - {"user_set"}))
    cfg = config.from_dict(overrides, cfg).validate()
    folder = sources.trains_on_user_folder(cfg)
    if not folder and (args.no_detect or any(getattr(args, k) is not None for k in FOLDER_FLAGS)):
        raise ConfigError("--labels, --no-detect, --val, --val-split and --group are for a folder of your own "
                          "photos (DIR/<label>/<image>), not FER-2013")
    if folder and not cfg.data:
        raise ConfigError("--preset own needs --data DIR (your photos, DIR/<label>/<image>)")
    return cfg


def main(argv=None, source=sources.for_run, prog: str = "python -m train", lab: bool = False) -> int:
    """Train, then write the run's report. ``source(cfg, log)`` gives the data
    (:func:`train.sources.for_run`: a user's folder or FER-2013); ``lab`` allows
    the recipe settings of :class:`train.config.RecipeSettings`."""
    args = parser(prog, (__doc__ if lab else _USER_DOC).split("\n\n")[0]).parse_args(argv)

    def body():
        cfg = resolve(args)
        if not lab and cfg.uses_lab:
            raise ConfigError(f"preset {cfg.recipe!r} trains on soft targets (a teacher or the FER+ votes): "
                              f"run it as python -m train.recipes --preset {cfg.recipe}")
        task = distributed.read_tf_config() if cfg.strategy == "multiworker" else None   # a bad TF_CONFIG first
        if not args.evaluate_only and not lab and sources.trains_on_user_folder(cfg):
            # a user's folder: warm start, the recipe for its size, chosen on validation (train.own_run);
            # the folder is read, checked and split before anything is written
            sources.check_exists(cfg)
            own_run.run(cfg, resume=args.resume)
        elif not args.evaluate_only:
            # the data is read, checked and split before anything is written: bad data leaves no run folder
            data = source(cfg, print)
            loop.run(cfg, data, resume=args.resume)
        if task is None or task.is_chief:      # the chief alone writes the run's report
            if sources.trains_on_user_folder(cfg):
                user_folder_report.write(cfg)
            else:
                report.write(cfg)

    return run_command(body, interrupted="interrupted; continue with --resume", extra="train")


_USER_DOC = "Train a FER MobileNetV2 on your own labelled photos, or on FER-2013."
