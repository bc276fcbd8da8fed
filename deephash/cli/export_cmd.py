"""``deephash export onnx``: PyTorch weights → model.onnx (the model version is its sha256)."""

from __future__ import annotations

from deephash.cli.common import add_model_option, model_dir
from deephash.model.export import export_model_onnx


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a model (ONNX)")
    targets = parser.add_subparsers(dest="target", required=True)
    onnx_parser = targets.add_parser(
        "onnx",
        help="write MODEL/model.onnx (opset 17, dynamic batch, uint8 frames in)",
        description="Export the whole cascade as one ONNX graph and record its sha256 as the model version.",
    )
    add_model_option(onnx_parser)
    onnx_parser.set_defaults(run=run_onnx)


def run_onnx(args) -> int:
    version = export_model_onnx(model_dir(args))
    print(f"model version {version}")
    return 0
