"""The calibration temperature written into a model's metadata: one number that
makes the probabilities honest (``runtime.contract.calibrate``)."""

from __future__ import annotations

import numpy as np

from runtime.contract import calibrate

#: the temperatures tried: 0.50 .. 4.00 by 0.01
GRID = np.round(np.arange(0.5, 4.0001, 0.01), 2)


def fit_temperature(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> float:
    """The temperature with the lowest mean negative log-likelihood of the true labels on ``grid``."""
    grid = GRID if grid is None else grid
    idx = np.arange(len(labels))
    nll = [float(-np.log(np.maximum(calibrate(probs, t)[idx, labels], 1e-12)).mean()) for t in grid]
    return float(grid[int(np.argmin(nll))])
