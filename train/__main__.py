"""``python -m train``: train a FER MobileNetV2, on FER-2013 or on your own labelled photos.

Examples::

    python -m train --data my_faces/ --out runs/mine                 # DIR/<label>/<image>: fine-tune the release model
    python -m train --data my_faces/ --out runs/mine --group '^(S[0-9]+)_' --epochs 10
    python -m train --data crops/ --no-detect --val crops_val/ --out runs/crops
    python -m train --preset release --data /path/to/fer2013
    python -m train --preset paper --set epochs=10 --out runs/paper10
    python -m train --resume --out runs/release

Exit codes: 0 done, 2 bad flag or config (a malformed TF_CONFIG too), 3 data problem,
5 cannot write the output (unwritable folder, full disk), 6 a peer of a multi-worker
run cannot be reached or stops answering (FER_PEER_TIMEOUT seconds), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0],
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
    p.add_argument("--init", help="random, imagenet, torchvision, a .h5/.pth weights file, or a trained .keras model (another cycle)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], help="distribution strategy")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    p.add_argument("--evaluate-only", action="store_true", help="only write the report of a finished run")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from .errors import ConfigError, run_cli

    args = parse_args(argv)

    def body():
        from . import config

        import yaml  # noqa: F401  (fail early with a clear message)

        saved = Path(args.out) / "config.yaml" if args.out else None
        if (args.resume or args.evaluate_only) and saved is not None and saved.is_file():
            cfg = config.load_preset(str(saved))
        else:
            preset = args.preset
            if preset is None:
                preset = "own" if args.data and config.from_dict({"data": args.data}).own_data else "release"
            cfg = config.load_preset(preset)
        overrides = {}
        for item in args.set:
            if "=" not in item:
                raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            overrides[k] = v
        for k in ("data", "out", "epochs", "init", "strategy", "labels", "val_data", "val_split", "group"):
            if getattr(args, k) is not None:
                overrides[k] = getattr(args, k)
        if args.no_detect:
            overrides["detect"] = "false"
        cfg = config.from_dict(overrides, cfg).validate()
        own = ("labels", "val_data", "val_split", "group")
        if not cfg.own_data and (args.no_detect or any(getattr(args, k) is not None for k in own)):
            raise ConfigError("--labels, --no-detect, --val, --val-split and --group are for a folder of your own "
                              "photos (DIR/<label>/<image>), not FER-2013")
        if cfg.own_data and not cfg.data:
            raise ConfigError("--preset own needs --data DIR (your photos, DIR/<label>/<image>)")
        from . import loop, report

        if not args.evaluate_only:
            loop.run(cfg, resume=args.resume)
        from .distributed import read_tf_config

        task = read_tf_config() if cfg.strategy == "multiworker" else None
        if task is None or task.is_chief:      # the chief alone writes the run's report
            if cfg.own_data:
                from . import folder_report

                folder_report.write(cfg)
            else:
                report.write(cfg)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
