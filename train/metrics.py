"""Classification metrics in numpy (shared by training reports and benchmarks)."""

from __future__ import annotations

from math import comb

import numpy as np

from runtime.contract import LABELS, NUM_CLASSES


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int = NUM_CLASSES) -> np.ndarray:
    """``[k, k]`` counts; rows are true classes, columns predictions."""
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def per_class(cm: np.ndarray, labels=None) -> dict[str, dict[str, float]]:
    tp = np.diag(cm).astype(np.float64)
    prec = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    rec = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return {name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                   "support": int(cm[i].sum())} for i, name in enumerate((labels or LABELS)[: len(cm)])}


def summarize(y_true: np.ndarray, probs: np.ndarray, labels=None) -> dict:
    """Accuracy, macro-F1, per-class P/R/F1, confusion matrix, ECE (``labels``: the class names, FER-2013's by
    default)."""
    y_pred = probs.argmax(1)
    cm = confusion(y_true, y_pred, probs.shape[1])
    pc = per_class(cm, labels)
    return {"n": int(len(y_true)), "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
            "macro_f1": float(np.mean([v["f1"] for v in pc.values()])), "per_class": pc,
            "confusion": cm.tolist(), "ece": expected_calibration_error(y_true, probs)}


def reliability(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> dict:
    """Top-1 confidence bins: count, mean confidence and accuracy per bin (empty bins: count 0)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    out = {"edges": edges.tolist(), "count": [], "confidence": [], "accuracy": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        out["count"].append(int(m.sum()))
        out["confidence"].append(float(conf[m].mean()) if m.any() else 0.0)
        out["accuracy"].append(float(correct[m].mean()) if m.any() else 0.0)
    return out


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Sum over confidence bins of (bin share) x |accuracy - confidence|."""
    r = reliability(y_true, probs, bins)
    n = max(1, len(y_true))
    return float(sum(c / n * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"])))


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of an accuracy of ``right`` of ``n``."""
    if n == 0:
        return 0.0, 1.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def paired_sign_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Two-sided exact sign test on the faces exactly one of two models gets right: how likely a split at
    least this uneven is if each such face were a coin toss (1.0 when there are none)."""
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))
