"""Train the cascade on a labelled dataset.

The backbone stays as pretrained: its features of every training video (the 2T intra-pair frames of the
original and of ``augment_views`` randomly edited copies) are computed once with ONNX Runtime and cached, and
only the fusion and heads are trained, which takes minutes on two cores.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from deephash.data.dataset import Split, read_split
from deephash.data.families import edit_sampled_frames, random_frame_edit
from deephash.errors import DatasetError
from deephash.features import BackboneRunner, cached_array, encoder_digest, extract_features, video_files_key
from deephash.model.artifacts import load_config, load_model, save_model
from deephash.model.config import LABELS_FILE, ModelConfig, Taxonomy
from deephash.model.network import DeepHashNet
from deephash.model.pooling import video_descriptor_array
from deephash.training.instance import Projection, normalise
from deephash.training.objective import BatchLabels, LossWeights, joint_loss
from deephash.verification import Embedding
from deephash.video import FrameSpec, sample_frames

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 80
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment_views: int = 2
    resume: bool = False
    weights: LossWeights = field(default_factory=LossWeights)
    init_from: Path | None = None  # a model folder of the same taxonomy, code length and backbone to start from


@dataclass
class TrainResult:
    history: list[dict[str, float]]
    seconds: float
    feature_seconds: float
    videos_per_second: float


def frame_views(path: Path, spec: FrameSpec, views: int, seed: int) -> np.ndarray:
    """``uint8 [(1 + views) * 2T, 3, S, S]``: 2T frames of the video, then of ``views`` edited copies.

    Even frames of a view form one frame set of the intra-pair, odd frames the other.
    """
    frames = sample_frames(path, spec.doubled()).frames
    rng = np.random.default_rng(seed)
    copies = [_edited(frames, rng) for _ in range(views)]
    return np.concatenate([frames, *copies])


def _edited(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sampled frames under one to three of the spatial edit families composed (the timing ones cannot apply to
    frames already sampled), at strengths drawn from ``rng``."""
    return edit_sampled_frames(frames, random_frame_edit(rng, frames.shape[-2:]))


def _labels(split: Split, rows: np.ndarray) -> BatchLabels:
    return BatchLabels(
        l1=torch.from_numpy(split.l1[rows]),
        l2=torch.from_numpy(split.l2[rows]),
        extra={name: torch.from_numpy(values[rows]) for name, values in split.extra.items()},
    )


def _cached_features(split: Split, model: DeepHashNet, options: TrainOptions, cache: Path) -> np.ndarray:
    """``float16 [N, 1 + views, 2T, F]``, reused from ``cache`` when made for the same inputs."""
    config = model.config
    key = {
        "files": video_files_key(split.paths),
        "encoder": encoder_digest(model.encoder),
        "frames": config.num_frames,
        "sampler": config.frame_spec.sampler_key,
        "views": options.augment_views,
        "seed": options.seed,
        "edits": "families",  # the edited views' vocabulary (caches of views made by the former RandomEdit differ)
    }
    seeds = {path: options.seed * 1_000_003 + index for index, path in enumerate(split.paths)}

    def compute() -> np.ndarray:
        features = extract_features(
            split.paths,
            BackboneRunner(model.encoder, config.frame_size),
            lambda path: frame_views(path, config.frame_spec, options.augment_views, seeds[path]),
            description="backbone features",
        )
        return features.astype(np.float16).reshape(len(split), 1 + options.augment_views, 2 * config.num_frames, -1)

    return cached_array(cache, key, compute)


def _cached_batches(
    features: np.ndarray, split: Split, options: TrainOptions, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, BatchLabels]]:
    order = rng.permutation(len(split))
    views = features.shape[1]
    for start in range(0, len(order), options.batch_size):
        rows = np.sort(order[start : start + options.batch_size])
        if len(rows) < 2:
            continue
        positive_view = rng.integers(0, views, len(rows))
        block = np.asarray(features[rows], dtype=np.float32)
        anchor = block[:, 0, 0::2]  # the original's frame set
        positive = block[np.arange(len(rows)), positive_view, 1::2]
        yield torch.from_numpy(anchor), torch.from_numpy(positive), _labels(split, rows)


def train(
    dataset_root: Path,
    out_dir: Path,
    config: ModelConfig | None = None,
    options: TrainOptions = TrainOptions(),
    cache_dir: Path | None = None,
    instance: Projection | None = None,
    verification: Embedding | None = None,
) -> TrainResult:
    """Train on ``train.csv`` of the dataset and write the model folder ``out_dir``.

    ``cache_dir`` holds cached backbone features (default ``out_dir/cache``); models of other code
    lengths trained on the same data and backbone share it. ``instance``: the instance stage's projection
    for the anchors; without one, SimHash planes around the training videos' mean. ``verification``: the fitted
    embedding the model outputs as its verification descriptor (:mod:`deephash.verification`); not trained.
    """
    taxonomy = Taxonomy.load(dataset_root / LABELS_FILE)
    config = config or ModelConfig(taxonomy=taxonomy)
    if config.taxonomy != taxonomy:
        raise DatasetError("the model's taxonomy differs from the dataset's labels.json")
    split = read_split(dataset_root, "train", taxonomy)
    for fitted in (instance, verification):
        if fitted is not None:
            fitted.check_fits(config.descriptor)
    if verification is not None:
        config = replace(config, verify_dims=verification.dims)
    # the bits a split projection gives the change stay its own; a retrained model keeps its anchors' layout
    if instance is not None or options.init_from is not None:
        own = instance.change_bits if instance is not None else load_config(options.init_from).anchor_only_bits
        config = replace(config, anchor_only_bits=own)
    torch.manual_seed(options.seed)
    model = DeepHashNet(config)
    if options.init_from is not None:
        _initialise_from(model, options.init_from)
    if verification is not None:
        model.verification.set_embedding(verification)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    feature_seconds = 0.0
    cache = (cache_dir or out_dir / "cache") / "train_features.npy"
    features = _cached_features(split, model, options, cache)
    feature_seconds = time.monotonic() - started
    if options.init_from is None or instance is not None:  # a retrained model keeps its anchors otherwise
        _install_instance_projection(model, features, instance)
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    steps_per_epoch = math.ceil(len(split) / options.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=max(1, options.epochs * steps_per_epoch),
        pct_start=0.1,
    )
    history: list[dict[str, float]] = []
    first_epoch = 0
    checkpoint = out_dir / CHECKPOINT_FILE
    if options.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.total_steps = max(1, options.epochs * steps_per_epoch)  # more epochs may be asked now
        history, first_epoch = state["history"], state["epoch"] + 1
    rng = np.random.default_rng(options.seed + first_epoch)
    generator = torch.Generator().manual_seed(options.seed + first_epoch)
    trained_videos, train_seconds = 0, 0.0
    with tqdm(range(first_epoch, options.epochs), desc="training", unit="epoch") as epochs:
        for epoch in epochs:
            epoch_started = time.monotonic()
            model.train()
            batches = _cached_batches(features, split, options, rng)
            totals: dict[str, float] = {}
            count = 0
            for anchor, positive, labels in batches:
                loss, parts = joint_loss(model.head, anchor, positive, labels, options.weights, generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                for name, value in {"loss": float(loss.detach()), **parts}.items():
                    totals[name] = totals.get(name, 0.0) + value * len(labels.l1)
                count += len(labels.l1)
            summary = {name: value / max(count, 1) for name, value in totals.items()}
            seconds = time.monotonic() - epoch_started
            trained_videos, train_seconds = trained_videos + count, train_seconds + seconds
            summary["videos_per_s"] = count / max(seconds, 1e-9)
            history.append({"epoch": epoch, **summary})
            epochs.set_postfix(loss=f"{summary.get('loss', 0):.3f}", vps=f"{summary['videos_per_s']:.0f}")
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                    "epoch": epoch,
                },
                checkpoint,
            )
    model.eval()
    result = TrainResult(
        history=history,
        seconds=time.monotonic() - started,
        feature_seconds=feature_seconds,
        videos_per_second=trained_videos / max(train_seconds, 1e-9),
    )
    save_model(model, out_dir, {"training": {"options": _jsonable(options), **asdict(result)}})
    return result


def _initialise_from(model: DeepHashNet, folder: Path) -> None:
    """Start from the weights of the model in ``folder`` (periodic retraining on fresh data)."""
    previous = load_model(folder)
    mine, theirs = model.config, previous.config
    if (mine.taxonomy, mine.code_bits, mine.backbone) != (theirs.taxonomy, theirs.code_bits, theirs.backbone):
        raise DatasetError(
            f"cannot start from {folder}: its taxonomy, code length ({theirs.code_bits}) or backbone "
            f"({theirs.backbone}) differ from this training's ({mine.code_bits}, {mine.backbone})"
        )
    model.load_state_dict(previous.state_dict())


def _install_instance_projection(model: DeepHashNet, features: np.ndarray, instance: Projection | None) -> None:
    """Anchors from ``instance``, scaled on the training videos' video descriptors."""
    head = model.head
    descriptors = video_descriptor_array(features[:, 0, :, head.feature_dim :], head.motion_weight)
    if instance is None:
        instance = Projection(normalise(descriptors).mean(axis=0), head.instance_planes.numpy())
    head.set_instance_projection(instance.centre, instance.planes, descriptors)


def _jsonable(options: TrainOptions) -> dict:
    data = asdict(options)
    data["weights"] = asdict(options.weights)
    data["init_from"] = None if options.init_from is None else str(options.init_from)
    return data
