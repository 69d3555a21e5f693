"""``python -m train``: fine-tune a FER MobileNetV2 on your own labelled photos, or train one on FER-2013.

Examples::

    python -m train --data my_faces/ --out runs/mine                 # DIR/<label>/<image>: fine-tune the release model
    python -m train --data my_faces/ --out runs/mine --group '^(S[0-9]+)_' --epochs 10
    python -m train --data crops/ --no-detect --val crops_val/ --out runs/crops
    python -m train --preset release --data /path/to/fer2013
    python -m train.recipes --preset paper --set epochs=10 --out runs/paper10
    python -m train --resume --out runs/release

The recipes that made the bundled models from soft targets (a teacher, the
FER+ votes) run as ``python -m train.recipes`` (docs/training.md).

Exit codes (runtime.errors): 0 done, 2 bad flag or config (a malformed TF_CONFIG too), 3 data problem,
5 cannot write the output (unwritable folder, full disk), 6 a peer of a multi-worker
run cannot be reached or stops answering (FER_PEER_TIMEOUT seconds), 130 interrupted.
"""

import sys

from train.cli import main

if __name__ == "__main__":
    sys.exit(main())
