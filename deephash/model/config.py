"""The model's shape: a small JSON-serialisable config and the label taxonomy it was trained on."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from deephash.errors import DatasetError, ModelError

if TYPE_CHECKING:
    from deephash.video.frames import FrameSpec

LABELS_FILE = "labels.json"  # a Taxonomy on disk, in model folders and datasets alike
SERVED_MODEL_NAME = "deephash_video"  # the model's name on Triton: repository folder, config and clients


@dataclass(frozen=True)
class Taxonomy:
    """Two-level categories: L1 group names, L2 names with their group, extra label dimensions.

    L2 ids are global across groups (``docs/architecture.md``, conventions). Stored as ``labels.json``::

        {"l1": ["shapes", ...], "l2": [{"name": "circles", "l1": 0}, ...], "extra": {"scene": ["a", "b"]}}
    """

    l1_names: tuple[str, ...]
    l2_names: tuple[str, ...]
    l2_parent: tuple[int, ...]
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.l1_names or not self.l2_names:
            raise DatasetError("a taxonomy needs at least one L1 and one L2 category")
        if len(self.l2_names) != len(self.l2_parent):
            raise DatasetError("every L2 category needs exactly one L1 parent")
        bad = [p for p in self.l2_parent if not 0 <= p < len(self.l1_names)]
        if bad:
            raise DatasetError(f"L2 parents out of range: {bad}")
        empty = [name for g, name in enumerate(self.l1_names) if g not in self.l2_parent]
        if empty:
            raise DatasetError(f"L1 categories without any L2 category: {empty}")
        for names in (self.l1_names, self.l2_names):
            if len(set(names)) != len(names):
                raise DatasetError(f"category names must be unique: {names}")

    @property
    def groups(self) -> list[list[int]]:
        """Global L2 ids of each L1 group, in id order."""
        return [[k for k, p in enumerate(self.l2_parent) if p == g] for g in range(len(self.l1_names))]

    def to_json(self) -> dict:
        return {
            "l1": list(self.l1_names),
            "l2": [{"name": n, "l1": p} for n, p in zip(self.l2_names, self.l2_parent)],
            "extra": {key: list(values) for key, values in self.extra.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Taxonomy:
        try:
            return cls(
                l1_names=tuple(data["l1"]),
                l2_names=tuple(item["name"] for item in data["l2"]),
                l2_parent=tuple(int(item["l1"]) for item in data["l2"]),
                extra={key: tuple(values) for key, values in data.get("extra", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"malformed labels.json: {error}") from error

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        if not path.is_file():
            raise DatasetError(f"labels file not found: {path}")
        return cls.from_json(json.loads(path.read_text()))


@dataclass(frozen=True)
class DescriptorSettings:
    """What a video's regional descriptor depends on (the frame encoder and the video pooling). A projection
    fitted on descriptors records them, and a model whose own differ refuses it. The values are always a
    :class:`ModelConfig`'s: its ``descriptor``, or :meth:`default` for work that has no model yet."""

    backbone: str
    frame_size: int
    instance_grid: int
    detail_pool: int
    second_scale_pool: int
    second_scale_weight: float
    motion_weight: float

    @classmethod
    def default(cls, backbone: str | None = None) -> DescriptorSettings:
        """:class:`ModelConfig`'s defaults (with another ``backbone``)."""
        defaults = {item.name: item.default for item in fields(ModelConfig) if item.name in _DESCRIPTOR_FIELDS}
        return cls(**(defaults | ({"backbone": backbone} if backbone else {})))

    def to_json(self) -> dict:
        return asdict(self)


_DESCRIPTOR_FIELDS = {item.name for item in fields(DescriptorSettings)}


def refuse_other_descriptors(what: str, fitted: DescriptorSettings | None, model: DescriptorSettings) -> None:
    """A ``what`` fitted on descriptors of ``fitted`` settings does not fit a model of ``model`` settings."""
    if fitted is None:
        raise ModelError(f"the {what} does not record the descriptor it was fitted on")
    if fitted != model:
        mine, theirs = fitted.to_json(), model.to_json()
        differ = ", ".join(f"{key} {mine[key]} (model: {theirs[key]})" for key in mine if mine[key] != theirs[key])
        raise ModelError(f"the {what} was fitted on other descriptors: {differ}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network before loading its weights."""

    taxonomy: Taxonomy
    backbone: str = "efficientnet_lite0"
    num_frames: int = 5
    frame_size: int = 224
    sampler: str = "exact"  # which frames of a video (video/seeking.py): "exact" or "keyframes"
    l1_bits: int = 64
    l2_bits: int = 64
    instance_grid: int = 3  # the regional descriptor pools a grid x grid layout of regions (pooling.py)
    # frames are averaged over detail_pool x detail_pool pixels and scaled back up before the backbone
    # (network.py: the detail that re-encodes and downscaled copies lose is not described; 1 = off)
    detail_pool: int = 3
    # the backbone also runs on the frames averaged down by second_scale_pool (1 = off), its regional descriptor
    # beside the full-size one at second_scale_weight (network.py)
    second_scale_pool: int = 2
    second_scale_weight: float = 0.5
    # the anchors describe a video by its frames' mean regional descriptor and, weighted by motion_weight, by
    # how it changes from the first frames to the last (pooling.video_descriptor; 0 = the mean alone)
    motion_weight: float = 1.0
    # the heads' offsets enter the code from L1 probability trust_from, fully from trust_full (network.py)
    trust_from: float = 0.5
    trust_full: float = 0.8
    # the last anchor_only_bits bits are the instance stage's alone: the heads' offsets never move them (the
    # change part's bits of a split projection, training/instance.py, which views trimmed or sped up in the
    # synthetic training set would teach the heads to override)
    anchor_only_bits: int = 0
    # dimensions of the verification descriptor the model outputs beside the code (deephash/verification.py;
    # a whitened embedding of the video descriptor that re-ranks and decides copies); 0 = none
    verify_dims: int = 0

    def __post_init__(self) -> None:
        if (self.l1_bits + self.l2_bits) % 64:
            raise ModelError(f"code length {self.l1_bits + self.l2_bits} is not a multiple of 64")
        if not 0.0 <= self.trust_from < self.trust_full <= 1.0:
            raise ModelError(f"need 0 <= trust_from < trust_full <= 1, got {self.trust_from}, {self.trust_full}")
        if not 0 <= self.anchor_only_bits <= self.l2_bits:
            raise ModelError(f"anchor_only_bits must be within 0..{self.l2_bits}, got {self.anchor_only_bits}")
        if self.verify_dims < 0:
            raise ModelError(f"verify_dims must be >= 0, got {self.verify_dims}")
        if self.instance_grid < 1:
            raise ModelError(f"instance_grid must be >= 1, got {self.instance_grid}")
        if self.motion_weight < 0:
            raise ModelError(f"motion_weight must be >= 0, got {self.motion_weight}")
        if not 1 <= self.detail_pool <= 8:
            raise ModelError(f"detail_pool must be within 1..8, got {self.detail_pool}")
        if not 1 <= self.second_scale_pool <= 4 or self.second_scale_weight <= 0:
            raise ModelError(
                f"second_scale_pool must be within 1..4 and second_scale_weight > 0, got {self.second_scale_pool}, "
                f"{self.second_scale_weight}"
            )

    @property
    def code_bits(self) -> int:
        return self.l1_bits + self.l2_bits

    @property
    def descriptor(self) -> DescriptorSettings:
        return DescriptorSettings(**{name: getattr(self, name) for name in _DESCRIPTOR_FIELDS})

    @property
    def frame_spec(self) -> FrameSpec:
        """What the sampler must give this model for each video."""
        from deephash.video.frames import FrameSpec  # PyAV stays out of processes that only read configs

        return FrameSpec(self.num_frames, self.frame_size, self.sampler)

    @property
    def output_names(self) -> list[str]:
        """Names of the served model's outputs, in order (ONNX, Triton, clients all use these)."""
        names = ["code", "l1_id", "l1_prob", "l2_id", "l2_prob"]
        for name in self.taxonomy.extra:
            names += [f"{name}_id", f"{name}_prob"]
        return names + (["verification"] if self.verify_dims else [])

    def to_json(self) -> dict:
        data = asdict(self)
        data["taxonomy"] = self.taxonomy.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        data = dict(data)
        unknown = set(data) - {item.name for item in fields(cls)}
        if unknown:
            raise ModelError(f"config fields this deephash does not know: {', '.join(sorted(unknown))}")
        data["taxonomy"] = Taxonomy.from_json(data["taxonomy"])
        return cls(**data)
