"""A bulk (re-)hashing job on Ray Data: a manifest in, a data folder of video and audio libraries out.

The driver is the libraries' only writer. Each batch that comes out of the pipeline is committed durably
through the catalog's writer (:mod:`deephash.ingestion`: audio codes first, then video codes, so a video row
means "done") and bad videos are appended to an error
log, so a job killed at any moment resumes by skipping what either already holds, and a finished job's
libraries hold what one uninterrupted run would have written. The same code runs on a laptop (a local Ray
started with ``num_cpus``) and on a cluster (``address``); the model folder must be readable by every node.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.catalog import Catalog
from deephash.errors import InvalidRequest
from deephash.ingestion import CodeRows
from deephash.offline.manifest import ManifestEntry
from deephash.offline.ray_stages import CodeModel, sample_batch
from deephash.video import FrameSpec, VideoLimits

ERRORS_FILE = "bulk-errors.jsonl"


@dataclass(frozen=True)
class BulkOptions:
    address: str | None = None  # a running cluster; None starts a local one
    num_cpus: int | None = None  # of the local cluster (None: every core)
    model_workers: int = 1  # actors of the model stage
    threads: int = 1  # ONNX Runtime threads per model actor
    gpus_per_worker: float = 0.0  # > 0: model actors on GPUs, ONNX Runtime's CUDA provider
    batch: int = 4  # videos per model call
    commit_every: int = 32  # videos per durable commit
    audio: bool = True


@dataclass(frozen=True)
class BulkReport:
    total: int
    already_done: int
    hashed: int
    failed: int
    seconds: float

    def summary(self) -> str:
        rate = self.hashed / self.seconds if self.seconds else 0.0
        return (
            f"{self.hashed} hashed, {self.failed} failed, {self.already_done} already done of {self.total} "
            f"in {self.seconds:.1f} s ({rate:.1f} videos/s)"
        )


class ErrorLog:
    """Bad videos, one JSON line each, written durably: a resumed job does not retry them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def recorded(self) -> set[str]:
        if not self.path.is_file():
            return set()
        ids = set()
        for line in self.path.read_text().splitlines():
            try:
                ids.add(json.loads(line)["video_id"])
            except (ValueError, KeyError):  # the torn last line of a killed job: that video is tried again
                continue
        return ids

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        with self.path.open("a+b") as handle:  # appends wherever it reads
            size, torn = handle.seek(0, os.SEEK_END), False
            if size:
                handle.seek(size - 1)
                torn = handle.read(1) != b"\n"  # a killed job's half line: end it, it is skipped on reading
            text = ("\n" if torn else "") + "".join(json.dumps(row) + "\n" for row in rows)
            handle.write(text.encode())
            handle.flush()
            os.fsync(handle.fileno())


def run_bulk_job(
    entries: list[ManifestEntry], out: Path, model_dir: Path, options: BulkOptions = BulkOptions(), progress=True
) -> BulkReport:
    """Hash every entry not yet in ``out``'s libraries (nor in its error log) and commit the codes."""
    import ray

    if options.address is not None and options.num_cpus is not None:
        raise InvalidRequest("--num-cpus sizes a local Ray cluster; a cluster at --address has its own")
    if options.num_cpus is not None and options.model_workers * options.threads > options.num_cpus:
        raise InvalidRequest(
            f"{options.model_workers} model workers x {options.threads} threads need more than the "
            f"{options.num_cpus} CPUs of the cluster: Ray would wait for them forever"
        )
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(model_dir, out)
    errors = ErrorLog(out / ERRORS_FILE)
    try:
        failed_before = errors.recorded()
        pending = [entry for entry in entries if entry.video_id not in catalog and entry.video_id not in failed_before]
        hashed = failed = 0
        if pending:
            owns_ray = not ray.is_initialized()
            if owns_ray:
                ray.init(
                    address=options.address,
                    num_cpus=options.num_cpus,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            try:
                bar = tqdm(total=len(pending), unit="video", desc="bulk-hash", disable=not progress)
                uris = {entry.video_id: entry.uri for entry in pending}
                for batch in _pipeline(pending, model_dir, catalog.config.frame_spec, options).iter_batches(
                    batch_size=options.commit_every, batch_format="numpy"
                ):
                    good, bad = _commit(batch, catalog, errors, uris)
                    hashed, failed = hashed + good, failed + bad
                    bar.update(good + bad)
                    bar.set_postfix(errors=failed)
                bar.close()
            finally:
                if owns_ray:
                    ray.shutdown()
        return BulkReport(len(entries), len(entries) - len(pending), hashed, failed, time.monotonic() - started)
    finally:
        catalog.close()


def _pipeline(pending: list[ManifestEntry], model_dir: Path, spec: FrameSpec, options: BulkOptions):
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the job's own bar counts committed videos
    items = [{"video_id": entry.video_id, "uri": entry.uri} for entry in pending]
    return (
        ray.data.from_items(items, override_num_blocks=max(1, len(items) // options.batch))
        .map_batches(
            sample_batch,
            fn_kwargs={"spec": spec, "limits": VideoLimits(), "audio": options.audio},
            batch_size=options.batch,
            num_cpus=1,
        )
        .map_batches(
            CodeModel,
            fn_constructor_kwargs={
                "model_dir": str(Path(model_dir).resolve()),
                "threads": options.threads,
                "device": "cuda" if options.gpus_per_worker else "cpu",
            },
            batch_size=options.batch,
            compute=ray.data.ActorPoolStrategy(size=options.model_workers),
            num_cpus=options.threads,
            num_gpus=options.gpus_per_worker,
        )
    )


def _commit(batch: dict, catalog: Catalog, errors: ErrorLog, uris: dict[str, str]) -> tuple[int, int]:
    """Write one batch durably: error rows to the log, then the codes through the catalog. (good, bad) counts."""
    ids = [str(video_id) for video_id in batch["video_id"]]
    ok = batch["error"] == ""
    good = np.flatnonzero(ok)
    errors.append(
        [{"video_id": ids[i], "uri": uris[ids[i]], "error": str(batch["error"][i])} for i in np.flatnonzero(~ok)]
    )
    audio = [batch["audio"][i] if batch["has_audio"][i] else None for i in good]
    verification = batch["verification"][good] if catalog.config.verify_dims else None
    rows = CodeRows(
        [ids[i] for i in good], batch["code"][good], batch["l1"][good], batch["l2"][good], audio, verification
    )
    catalog.add_many(rows)
    return len(good), int((~ok).sum())
