"""``python -m train``: train a FER MobileNetV2.

Examples::

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
    p.add_argument("--preset", default="release", help="preset name (train/presets) or a YAML file")
    p.add_argument("--data", help="FER-2013 image-folder root or fer2013.csv (default: $FER_DATA)")
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
            cfg = config.load_preset(args.preset)
        overrides = {}
        for item in args.set:
            if "=" not in item:
                raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            overrides[k] = v
        for k in ("data", "out", "epochs", "init", "strategy"):
            if getattr(args, k) is not None:
                overrides[k] = getattr(args, k)
        cfg = config.from_dict(overrides, cfg).validate()
        from . import loop, report

        if not args.evaluate_only:
            loop.run(cfg, resume=args.resume)
        from .distributed import read_tf_config

        task = read_tf_config() if cfg.strategy == "multiworker" else None
        if task is None or task.is_chief:      # the chief alone writes the run's report
            report.write(cfg)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
