"""The lab of conversion: how the bundled tiers were released.

``python -m convert.release --run RUN`` converts a finished training run by
every int8 route (:mod:`.routes`), ships the best on PublicTest, writes the
runtime hints into the model's metadata (:mod:`.hints`), keeps the history of
earlier releases (:mod:`.history`) and writes the model card (:mod:`.card`);
:mod:`.frontier` records accuracy-latency points that were trained and not
shipped. Nothing on the user's path (``python -m convert.quantize``,
``fer-infer``) imports this package.
"""
