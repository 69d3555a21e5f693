"""``python -m train.recipes``: the lab's FER-2013 recipes, trained on soft targets.

    python -m train.recipes --preset ferplus_soft --init release --out runs/fp
    python -m train.recipes --preset distill --out runs/d --set teacher=models/records/teacher/teacher.npz

The same flags and run folder as ``python -m train`` (:mod:`train.cli`); the
data is FER-2013 with the targets the preset asks for
(:func:`train.recipes.soft_targets.recipe_data`: FER+ votes, a teacher's
predictions, validation on PublicTest's FER+ majority).
"""

import sys

from train.cli import main
from train.recipes.soft_targets import recipe_data

if __name__ == "__main__":
    sys.exit(main(source=recipe_data, prog="python -m train.recipes", lab=True))
