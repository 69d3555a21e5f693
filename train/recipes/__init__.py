"""The lab of training: the FER-2013 recipes that made the bundled models.

``python -m train.recipes`` trains on soft targets (:mod:`.soft_targets`:
the FER+ crowd votes, a teacher's predictions from :mod:`.teacher`); soups
average runs (:mod:`.soup`); the class prior corrects a head (:mod:`.prior`);
the ablation walks from the published recipe to the release (:mod:`.ablation`);
:mod:`.choose` measures candidates on PublicTest and wild-dev. Nothing on the
user's path (``python -m train``, ``python -m convert.quantize``, ``fer-infer``)
imports this package.
"""
