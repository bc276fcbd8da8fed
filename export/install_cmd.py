"""``deephash install-default``: the released default model, verified, installed and re-measured."""

from __future__ import annotations

import time
from pathlib import Path

from deephash.errors import ModelError
from deephash.model.artifacts import DEFAULT_MODEL_DIR, ONNX_FILE, file_sha256, read_metadata, update_metadata
from deephash.model.batching import measure_model_batching
from export.release import DEFAULT_DATA_DIR
from export.release_check import CHECK_EVERY, TOLERANCE, ReleaseCheck, check_against_recorded
from export.release_files import INSTALL_CHECK, RELEASE_DIR, install_release, verify_release


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "install-default",
        help="install the released default model (checksums, ONNX export, re-measured figures)",
        description=f"Verify the release in {RELEASE_DIR} against its SHA256SUMS, copy it to OUT, export its "
        "ONNX file and check that the export is the released model version, then re-measure its real-footage "
        f"recall@1 per edit family on the variants of every {CHECK_EVERY}th original (made in DATA) and fail "
        f"unless the overall figure is within {TOLERANCE} of the one the release recorded; last, measure which batch "
        "sizes pay on this CPU. Does nothing when OUT already holds the released version and its check passed "
        "(unless --force).",
    )
    parser.add_argument("--release", type=Path, default=RELEASE_DIR, help="the release folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="model folder to install into")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="real footage and feature caches")
    parser.add_argument("--no-check", action="store_true", help="skip re-measuring the recorded figures")
    parser.add_argument("--force", action="store_true", help="install even when OUT holds the released version")
    parser.set_defaults(run=run)


def run(args) -> int:
    started = time.monotonic()
    version = verify_release(args.release)
    installed = args.out / ONNX_FILE
    if not args.force and installed.is_file() and file_sha256(installed) == version:
        if args.no_check or _checked(args.out):
            print(f"{args.out} already holds the released model {version[:12]}, checked; nothing to do")
            return 0
        print(f"{args.out} holds the released model {version[:12]} without a passing check: checking it")
    else:
        install_release(args.release, args.out)
        print(f"installed model {version[:12]} from {args.release} in {args.out}")
    if not args.no_check:
        check = check_against_recorded(args.out, args.data)
        print("real-footage recall@1, released and re-measured here")
        print(check.table())
        update_metadata(args.out, {INSTALL_CHECK: check.to_json()})
        if not check.passes():
            raise ModelError(
                f"recall@1 here differs from the release's by {check.overall_difference:.3f} (over {TOLERANCE}): "
                "the footage, the decoder or the CPU's arithmetic differs from the build's; see the table above"
            )
    batching = measure_model_batching(args.out)  # the batch sizes that pay are a property of this CPU
    batching.save(args.out)
    print(batching.table())
    print(f"default model ready in {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


def _checked(model_dir: Path) -> bool:
    """Whether the check recorded in the installed model's metadata passed."""
    recorded = read_metadata(model_dir).get(INSTALL_CHECK)
    return bool(recorded) and ReleaseCheck(recorded["recorded"], recorded["measured"]).passes()
