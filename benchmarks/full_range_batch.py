"""``python -m benchmarks.full_range_batch``: whether full-range should read a photo's regions in one call.

The tiles, squares and re-checked boxes of ``auto`` (:class:`runtime.detect.AutoBlazeFace`) are each one
call of full-range's graph. The graph takes a batch (its two reshapes keep a batch of one, ``[1, -1, 16]``,
so its outputs hold the batch's anchors one image after another, the same bit for bit as one call each);
this measures, on this machine, nine 192x192 inputs as nine calls against one batch of nine, warm, median
of rounds, one and two threads, and checks that the batch's outputs equal the single calls'. The runtime
keeps one call a region while the batch is not faster on one thread (what a photo gets in a folder run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from runtime.fetch import cached_full_range_path
from runtime.interpreter import make_interpreter

SIDE, REGIONS = 192, 9


def measure(threads: int, rounds: int = 15) -> dict:
    model = cached_full_range_path()
    if model is None:
        raise SystemExit("full_range_batch: the full-range detector is not cached (make demo fetches it)")
    data = model.read_bytes()
    one, batch = make_interpreter(data, threads, None), make_interpreter(data, threads, None)
    i1, ib = one.get_input_details()[0]["index"], batch.get_input_details()[0]["index"]
    batch.resize_tensor_input(ib, [REGIONS, SIDE, SIDE, 3])
    batch.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, (REGIONS, SIDE, SIDE, 3)).astype(np.float32)
    singles, batched, same = [], [], True
    for r in range(rounds):
        t = time.perf_counter()
        outs = []
        for k in range(REGIONS):
            one.set_tensor(i1, x[k:k + 1])
            one.invoke()
            outs.append([one.get_tensor(o["index"]) for o in one.get_output_details()])
        singles.append(time.perf_counter() - t)
        t = time.perf_counter()
        batch.set_tensor(ib, x)
        batch.invoke()
        got = [batch.get_tensor(o["index"]) for o in batch.get_output_details()]
        batched.append(time.perf_counter() - t)
        if r == 0:
            same = all(np.array_equal(np.concatenate([o[j] for o in outs], axis=1), got[j]) for j in range(len(got)))
    return {"threads": threads, "regions": REGIONS, "one_call_each_ms": round(1e3 * float(np.median(singles)), 2),
            "one_batch_ms": round(1e3 * float(np.median(batched)), 2), "same_outputs": bool(same)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.full_range_batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    a = p.parse_args(argv)
    print(json.dumps([measure(t, a.rounds) for t in (1, 2)], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
