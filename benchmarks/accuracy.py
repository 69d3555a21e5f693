"""Accuracy of every model variant on the standard FER-2013 splits.

For each variant (and the Keras float model when TensorFlow is installed):
PrivateTest, PublicTest, clean PrivateTest (no pixel duplicate of a Training
image) and FER+ majority labels on the PrivateTest images; accuracy,
macro-F1, per-class precision/recall/F1, confusion matrix, expected
calibration error with its reliability bins, and top-1 agreement with the
float model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPLITS = ("PrivateTest", "PublicTest", "PrivateTest_clean")


class EvalData:
    """The test images, labels and masks, loaded once for all variants."""

    def __init__(self, data_path, ferplus_dir=None):
        from train import dataset
        from train.audit import evaluation_masks

        self.data = dataset.load(data_path)
        masks = evaluation_masks(self.data)
        self.test = masks["PublicTest"] | masks["PrivateTest"]
        self.images = self.data.images[self.test]
        # Masks relative to the test images.
        self.masks = {name: masks[name][self.test] for name in SPLITS}
        self.labels = self.data.labels[self.test]
        self.majority = None
        fp = Path(ferplus_dir) if ferplus_dir else Path(data_path).parent / "ferplus"
        if (fp / "fer2013new.csv").is_file() and (fp / "fer2013_imagefolder_to_ferplus.csv").is_file():
            from train import ferplus

            f = ferplus.attach(self.data, fp / "fer2013new.csv", fp / "fer2013_imagefolder_to_ferplus.csv")
            self.majority = f.majority[self.test]


def tflite_probs(model: Path, ev: EvalData, threads: int = 2, tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities as the runtime reports them, the model's raw softmax): one
    pass over the images; the first is the second with the model's temperature."""
    from runtime.classifier import Classifier
    from runtime.contract import calibrate

    clf = Classifier(model, threads=threads, tta=tta, calibrated=False)
    raw = clf.predict_proba(ev.images)
    return calibrate(raw, clf.contract.temperature).astype(np.float32), raw


def keras_probs(keras_path: Path, ev: EvalData) -> np.ndarray:
    from train.saved import load_keras_model

    model = load_keras_model(keras_path)
    return model.predict(ev.images[..., None].astype(np.float32), batch_size=256, verbose=0)


def evaluate(probs: np.ndarray, ev: EvalData, reference: np.ndarray | None = None) -> dict:
    from train.metrics import reliability, summarize

    out = {}
    for name in SPLITS:
        m = ev.masks[name]
        out[name] = summarize(ev.labels[m], probs[m])
        out[name]["reliability"] = reliability(ev.labels[m], probs[m])
        if reference is not None:
            out[name]["agreement_with_float"] = float((probs[m].argmax(1) == reference[m].argmax(1)).mean())
    if ev.majority is not None:
        m = ev.masks["PrivateTest"] & (ev.majority >= 0)
        out["PrivateTest_FERplus_majority"] = summarize(ev.majority[m], probs[m])
    return out


def run(variants: dict[str, Path], data_path, keras_path: Path | None = None, log=print,
        flip: tuple[str, ...] = ()) -> dict:
    """{variant: {split: metrics}}; "keras_float" first when the Keras model can be run;
    each variant named in ``flip`` also as "<variant>+flip" (flip averaging, ``tta="flip"``)."""
    ev = EvalData(data_path)
    results, reference = {}, None
    if keras_path is not None and Path(keras_path).is_file():
        try:
            log("accuracy: Keras float model")
            reference = keras_probs(Path(keras_path), ev)
            results["keras_float"] = evaluate(reference, ev)
        except ImportError:
            log("accuracy: TensorFlow not installed; no Keras float row")
    for name, path in variants.items():
        log(f"accuracy: {name}")
        probs, raw = tflite_probs(path, ev)
        results[name] = evaluate(probs, ev, reference)
        if name in flip:
            # calibration before the model's temperature: ECE and reliability of its raw softmax
            from train.metrics import expected_calibration_error, reliability

            for split in SPLITS:
                m = ev.masks[split]
                results[name][split]["ece_raw"] = expected_calibration_error(ev.labels[m], raw[m])
                results[name][split]["reliability_raw"] = reliability(ev.labels[m], raw[m])
            log(f"accuracy: {name} with flip averaging")
            results[f"{name}+flip"] = evaluate(tflite_probs(path, ev, tta="flip")[0], ev, reference)
    return results


def plots(results: dict, out_dir: Path, stem: str) -> list[str]:
    """Confusion matrix and reliability diagram (PrivateTest) per variant; returns file names."""
    from train import plots as p

    files = []
    for name, r in results.items():
        if name.endswith("+flip"):
            continue
        pt = r["PrivateTest"]
        f1, f2 = f"{stem}-{name}-confusion.png", f"{stem}-{name}-reliability.png"
        p.confusion(pt["confusion"], out_dir / f1, f"{name}, PrivateTest: accuracy {100 * pt['accuracy']:.2f}%")
        p.reliability(pt["reliability"], out_dir / f2, f"{name}, PrivateTest: ECE {pt['ece']:.3f}")
        files += [f1, f2]
        if "reliability_raw" in pt:
            f3 = f"{stem}-{name}-reliability-raw.png"
            p.reliability(pt["reliability_raw"], out_dir / f3,
                          f"{name}, PrivateTest, before temperature scaling: ECE {pt['ece_raw']:.3f}")
            files.append(f3)
    return files
