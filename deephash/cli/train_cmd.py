"""``deephash train DATASET --out MODEL``: train the cascade."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from deephash.comparison import compare_with_previous
from deephash.evaluation import tune_and_save_mask
from deephash.model.artifacts import load_config
from deephash.model.backbones import BACKBONES
from deephash.model.config import LABELS_FILE, ModelConfig, Taxonomy
from deephash.training.instance import Projection
from deephash.training.objective import LossWeights
from deephash.training.trainer import TrainOptions, train


def add_parser(subparsers) -> None:
    defaults, weights = TrainOptions(), LossWeights()
    model_defaults = {field.name: field.default for field in fields(ModelConfig)}
    parser = subparsers.add_parser(
        "train",
        help="train a model on a labelled dataset",
        description="Train on DATASET/train.csv (labels -1 = unknown): the pretrained backbone's features are "
        "cached once and the fusion and heads are trained (minutes on a CPU).",
    )
    parser.add_argument("dataset", type=Path, help="dataset folder (labels.json, train.csv)")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument(
        "--backbone", choices=sorted(BACKBONES), default="efficientnet_lite0", help="per-frame CNN (registry name)"
    )
    parser.add_argument("--bits", type=int, default=128, help="code length L (half L1, half L2)")
    parser.add_argument(
        "--trust-from",
        type=float,
        default=model_defaults["trust_from"],
        help="L1 probability up to which the heads leave a video's code to its instance anchors",
    )
    parser.add_argument(
        "--trust-full",
        type=float,
        default=model_defaults["trust_full"],
        help="L1 probability from which the heads' offsets enter the code in full (linear in between)",
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the training split")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="videos per step")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (one-cycle)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of initialisation, edits and order")
    parser.add_argument(
        "--augment-views",
        type=int,
        default=defaults.augment_views,
        help="edited copies per video in the feature cache",
    )
    parser.add_argument("--instance", type=Path, help="projection from `deephash train-instance` for the anchors")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--init-from",
        type=Path,
        help="retrain: start from this model folder (its taxonomy, bits and backbone; --backbone, --bits and "
        "--trust-* are ignored), then tune the mask and print the new model's figures beside the previous "
        "model's on the dataset's held-out splits (recorded in metadata)",
    )
    for name in ("intra", "triplet", "instance"):
        parser.add_argument(
            f"--{name}-weight", type=float, default=getattr(weights, name), help=f"weight of the {name} loss"
        )
    parser.add_argument("--intra-margin", type=float, default=weights.intra_margin, help="bits")
    parser.add_argument("--triplet-margin", type=float, default=weights.triplet_margin, help="bits")
    parser.add_argument(
        "--instance-temperature", type=float, default=weights.instance_temperature, help="bits (InfoNCE)"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    taxonomy = Taxonomy.load(args.dataset / LABELS_FILE)
    config = ModelConfig(
        taxonomy=taxonomy,
        backbone=args.backbone,
        l1_bits=args.bits // 2,
        l2_bits=args.bits // 2,
        trust_from=args.trust_from,
        trust_full=args.trust_full,
    )
    if args.init_from is not None:  # a retrained model is the previous one's architecture
        config = load_config(args.init_from)
    weights = LossWeights(
        intra=args.intra_weight,
        triplet=args.triplet_weight,
        instance=args.instance_weight,
        intra_margin=args.intra_margin,
        triplet_margin=args.triplet_margin,
        instance_temperature=args.instance_temperature,
    )
    options = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment_views=args.augment_views,
        resume=args.resume,
        weights=weights,
        init_from=args.init_from,
    )
    instance = Projection.load(args.instance) if args.instance is not None else None
    result = train(args.dataset, args.out, config, options, instance=instance)
    last = result.history[-1] if result.history else {}
    print(
        f"trained {len(result.history)} epochs in {result.seconds:.0f} s "
        f"(features {result.feature_seconds:.0f} s, {result.videos_per_second:.0f} videos/s); "
        f"final loss {last.get('loss', float('nan')):.3f}; model in {args.out}"
    )
    if args.init_from is not None:
        cache = args.out / "cache"
        tune_and_save_mask(args.out, args.dataset, cache)
        print(compare_with_previous(args.out, args.init_from, args.dataset, cache))
        print(f"next: `deephash export onnx --model {args.out}` makes it a model version")
    return 0
