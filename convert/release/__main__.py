"""Package a finished training run as the release under ``models/``.

    python -m convert.release --run runs/release
    python -m convert.release --run models/micro --out models/micro   # convert a release again (new converter)

The int8 model is chosen among routes (:data:`ROUTES`): post-training int8
of the float model with several calibration sizes, and int8 from the
quantization-aware model when the run has one. Each is converted (accuracy
gate on PublicTest) and measured on PublicTest, PrivateTest and clean
PrivateTest and, when the FER+ votes and ``wild-dev`` are beside FER-2013, on
the choosing sets of real faces (PublicTest's FER+ majority, wild-dev; FER+
PrivateTest reported). The one with the best mean accuracy on the choosing
sets ships (PublicTest alone without them; :func:`choose_route`, never
PrivateTest), and the card lists them all.

Copies the float model and the run's record (config, data checksum, history,
plots, log), converts the int8 model with ``convert.quantize`` (accuracy gate
on PublicTest), evaluates float and int8 on PublicTest, PrivateTest and clean
PrivateTest, and writes ``models/MODEL_CARD.md`` from those numbers. When the
run has a quantization-aware fine-tuned model (``qat.h5``, from
``--set qat_epochs=N``), it is copied to ``models/fer_mobilenetv2_qat.h5``
(without optimizer state) and the int8 model is converted from it; a run
without one removes an earlier release's.

Releasing another model keeps the history: the current record and card move
to ``models/records/release/stageN/`` (the first free N, so earlier stages stay where
their cards point) before the new ones are written. When the run started from
the model released now (``--init models/fer_mobilenetv2.keras`` or a copy of
it: another training cycle), the card names both commands.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import convert  # noqa: F401
from convert.quantize import ConvertError, GateError
from convert.release.card import card
from convert.release.hints import runtime_hints
from convert.release.history import (
    FLOAT,
    INT8,
    MODELS,
    QAT,
    REPO,
    keep_stage,
    records_of,
    released_init,
    repo_relative,
    rerun_folder,
    started_stage,
)
from convert.release.routes import CHOOSING, convert_routes, real_face_sets, route_table
from runtime.errors import DataError, ModelError
from train import config, fer2013
from train.io import atomic_path, atomic_write_json, file_sha256
from train.paths import record_dir
from train.recipes import posed
from train.report import copy_record, evaluate_splits
from train.saved import load_keras_model


def copy_without_optimizer(src: Path, dst: Path, data) -> dict:
    """Copy a (QAT) Keras model without optimizer state, with its own accuracy
    beside it (``dst.json``, which the converter embeds in the metadata)."""
    model = load_keras_model(src)
    with atomic_path(dst, suffix=".h5") as tmp:
        model.save(tmp, include_optimizer=False)
    res = evaluate_splits(model, data)
    record = {"source": src.name, "data_checksum_sha256": data.checksum,
              "accuracy": {k: round(v["accuracy"], 4) for k, v in res.items()},
              "macro_f1": {k: round(v["macro_f1"], 4) for k, v in res.items()}}
    atomic_write_json(dst.with_suffix(".json"), record)
    return record



def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.release", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="finished run folder (with model.keras and report.json), or a "
                                                "release folder to convert again")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    p.add_argument("--out", default=str(MODELS), help="release folder")
    a = p.parse_args(argv)
    run, out = Path(a.run), Path(a.out)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    with tempfile.TemporaryDirectory() as scratch:
        try:
            rerun = (record_dir(run) / "report.json").is_file() and not (run / "report.json").is_file()
            if rerun:
                if run.resolve() != out.resolve():
                    raise ConvertError("a release folder is converted again in place: --run and --out must match")
                run = rerun_folder(run, Path(scratch) / "run")     # its models are in --out already
                log(f"converting the release in {a.run} again from its committed record")
            for f in ("model.keras", "model.json", "report.json"):
                if not (run / f).is_file():
                    raise ConvertError(f"{run}/{f} missing: finish the run (python -m train --evaluate-only --out {run})")
            if rerun:     # the same model converted again: nothing moves; the cycle it was is in its record
                stage = started_stage(out, run)
            else:
                stage = keep_stage(out, config.load_preset(str(run / "config.yaml")).to_dict(), run / "model.keras",
                                   log=log)
            rec = record_dir(out)
            copy_record(run, rec)
            if not rerun:
                shutil.copy2(run / "model.keras", out / FLOAT)
                shutil.copy2(run / "model.json", out / FLOAT.replace(".keras", ".json"))
            data = fer2013.load(fer2013.find_data(a.data))
            has_qat = (run / "qat.h5").is_file()
            if has_qat and not rerun:
                copy_without_optimizer(run / "qat.h5", out / QAT, data)
            elif not rerun:
                # the QAT model of an earlier release is not this one's (its record moved to the stage)
                for stale in (out / QAT, out / QAT.replace(".h5", ".json")):
                    stale.unlink(missing_ok=True)
            sets = real_face_sets(a.data, log, posed.record_held_out(rec))
            cands, chosen = convert_routes(out, data, a.data, has_qat, log, sets)
            if has_qat and cands[chosen]["route"] != "qat" and not rerun:
                # only what ships is kept; the QAT route's figures stay in the route table
                for f in (out / QAT, out / QAT.replace(".h5", ".json")):
                    f.unlink(missing_ok=True)
            qrep, int8_res = cands[chosen]["report"], cands[chosen]["int8"]
            real = (cands[chosen]["real_faces"], cands[chosen]["real_probs"]) if sets else None
            tta = runtime_hints(out / INT8, data, int8_res, cands[chosen]["probs"], log, sets, real)
            atomic_write_json(rec / "hints.json", tta)
            if real:
                atomic_write_json(rec / "real_faces.json", {"int8": real[0], "sets": {
                    k: {"n": int(len(v[1])), "data_checksum_sha256": v[2]} for k, v in sets.items()}})
            else:
                (rec / "real_faces.json").unlink(missing_ok=True)
            run_report = json.loads((run / "report.json").read_text())
            float_res = run_report["results"]
            (rec / "int8_eval.json").write_text(json.dumps(int8_res, indent=2) + "\n")
            (rec / "quantize.json").write_text(json.dumps(qrep, indent=2) + "\n")
            routes = [{k: v for k, v in c.items() if k not in ("report", "probs", "real_probs")} for c in cands]
            atomic_write_json(rec / "routes.json", {"chosen": chosen, "routes": routes,
                                                    "chosen_on": "mean of " + ", ".join(CHOOSING) if sets
                                                    else "PublicTest"})
            cmd = "python -m convert.release " + " ".join(argv if argv is not None else sys.argv[1:])
            records = records_of(MODELS, run_report["soup"]) if run_report.get("soup") else None
            init_as = released_init(str(run_report["config"].get("init", "")))
            init_desc = f"`{init_as}` (sha256 `{file_sha256(REPO / init_as)}`)" if init_as else ""
            (out / "MODEL_CARD.md").write_text(card(run_report, float_res, int8_res, qrep, cmd,
                                                    (out / INT8).stat().st_size, stage, records, init_desc, init_as,
                                                    "" if out.resolve() == MODELS else repo_relative(out),
                                                    route_table(cands, chosen), tta, out))
            for split in ("PrivateTest", "PublicTest", "PrivateTest_clean"):
                log(f"{split}: float {100 * float_res[split]['accuracy']:.2f}%  "
                    f"int8 {100 * int8_res[split]['accuracy']:.2f}%")
        except (ModelError, GateError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
        except (ValueError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
