"""Distributed search benchmark: shard holders on a real local Ray cluster against the in-process scan.

One on-disk library of random 128-bit codes in 8 L1 groups (built once, kept under ``--folder``). Figures, each
against its peer measured in the same run:
1. fan-out overhead: latency of one query and of a batch of 32 (k=10, every group) through the router with one
   holder, against ``Library.search`` in this process over the same files;
2. queries/s with 1 and 2 holders, ``--clients`` threads each sending one query at a time (in-process: the same
   threads calling ``Library.search``);
3. a replica killed under load (2 holders x 2 replicas): answers exact / flagged / failed, p50 and p99 before
   and after the kill.

    python benchmarks/distributed_search.py                 # 10 M codes
    python benchmarks/distributed_search.py --rows 1e6      # a quick look
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np
from machine import cpu_description  # benchmarks/machine.py, beside this script
from search import timed  # benchmarks/search.py: the median of repeated calls after a warm-up

from deephash.index import Library
from deephash.index.layout import propose_layout

GROUPS, K, BATCH = 8, 10, 32


def library_of(folder: Path, rows: int) -> Path:
    """The benchmark's library of ``rows`` random codes, built when absent (random ids of 20 characters)."""
    path = folder / f"random-{rows}"
    if path.is_dir():
        with Library.open(path) as existing:
            if existing.manifest.rows == rows:
                return path
        raise SystemExit(f"{path} holds another library: remove it")
    rng = np.random.default_rng(0)
    with Library.create(path, 128, "benchmark") as created:
        step = 1 << 20
        for start in range(0, rows, step):
            count = min(step, rows - start)
            ids = [f"video-{n:014d}" for n in range(start, start + count)]
            codes = rng.integers(0, 256, (count, 16), dtype=np.uint8)
            created.add_many(ids, codes, rng.integers(0, GROUPS, count), rng.integers(0, 9, count))
            print(f"  built {start + count:,} rows", flush=True)
    return path


def throughput(call, clients: int, seconds: float) -> tuple[float, list[float], list[str]]:
    """``clients`` threads calling ``call(worker)`` for ``seconds``: queries/s, each latency, each outcome."""
    latencies, outcomes, stop, lock = [], [], threading.Event(), threading.Lock()

    def work(worker: int) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                outcome = call(worker)
            except Exception as error:  # counted, not raised: the figures say how many
                outcome = f"failed: {type(error).__name__}"
            with lock:
                latencies.append(time.perf_counter() - started)
                outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), latencies, outcomes


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def deploy(library: Path, holders: int, replicas: int):
    from serving.ray_search import deploy_search

    with Library.open(library) as opened:
        layout = propose_layout(opened.manifest, library, holders, replicas)
    return deploy_search(layout.model_copy(update={"replica_cpus": 0.1}), f"bench-{holders}x{replicas}")


def measure_holders(library: Path, holders: int, one, batch, pool, expected: dict, args) -> tuple:
    """Latency of one query and of a batch, queries/s and p99 under ``args.clients`` clients, share answered
    exactly, through ``holders`` holders of one replica each."""
    from ray import serve

    handle = deploy(library, holders, 1)
    one_s = timed(lambda: handle.search.remote(one, K).result(), 15)
    batch_s = timed(lambda: handle.search.remote(batch, K).result(), 7)
    counter = iter(range(10**9))

    def ask(worker: int) -> str:
        n = next(counter) % len(pool)
        answer = handle.search.remote(pool[n : n + 1], K).result(timeout_s=60)
        return "exact" if [hit[0] for hit in answer["hits"][0]] == expected[n] else "wrong"

    qps, lat, outcomes = throughput(ask, args.clients, args.seconds)
    serve.delete(f"bench-{holders}x1")
    return holders, one_s, batch_s, qps, percentile_ms(lat, 99), outcomes.count("exact") / len(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--folder", type=Path, default=Path("data/bench-libraries"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    import ray
    from ray import serve

    print(cpu_description())
    library = library_of(args.folder, int(args.rows))
    rng = np.random.default_rng(1)
    one, batch = rng.integers(0, 256, (1, 16), dtype=np.uint8), rng.integers(0, 256, (BATCH, 16), dtype=np.uint8)
    pool = rng.integers(0, 256, (256, 16), dtype=np.uint8)

    local = Library.open(library)
    expected = {n: [h.video_id for h in local.search(pool[n], K)[0]] for n in range(len(pool))}
    local_one, local_batch = timed(lambda: local.search(one, K), 15), timed(lambda: local.search(batch, K), 7)
    local_qps, local_lat, _ = throughput(lambda w: local.search(pool[w % len(pool)], K), args.clients, args.seconds)
    print(f"{int(args.rows):,} codes, {GROUPS} groups; k={K}; {args.clients} client threads for the queries/s\n")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = [measure_holders(library, holders, one, batch, pool, expected, args) for holders in (1, 2)]

    print("| | 1 query | x in-process | 32 queries | x in-process | queries/s | x in-process | p99 | exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| in-process `Library.search` | {local_one * 1000:.1f} ms | 1.00 | {local_batch * 1000:.1f} ms | 1.00 "
        f"| {local_qps:.1f} | 1.00 | {percentile_ms(local_lat, 99):.0f} ms | - |"
    )
    for holders, one_s, batch_s, qps, p99, exact in rows:
        print(
            f"| Ray Serve, {holders} holder(s) | {one_s * 1000:.1f} ms | {one_s / local_one:.2f} | "
            f"{batch_s * 1000:.1f} ms | {batch_s / local_batch:.2f} | {qps:.1f} | {qps / local_qps:.2f} | "
            f"{p99:.0f} ms | {exact:.0%} |"
        )

    handle = deploy(library, 2, 2)
    handle.search.remote(one, K).result()
    kill_at = args.seconds / 3
    marks: list[tuple[float, float, str]] = []
    started = time.perf_counter()

    def ask_marked(worker: int) -> str:
        n = (worker * 7919 + len(marks)) % len(pool)
        sent = time.perf_counter() - started
        answer = handle.search.remote(pool[n : n + 1], K).result(timeout_s=60)
        kind = "flagged" if answer["missing_groups"] else "exact"
        if kind == "exact" and [hit[0] for hit in answer["hits"][0]] != expected[n]:
            kind = "wrong"
        marks.append((sent, time.perf_counter() - started - sent, kind))
        return kind

    def killer() -> None:
        time.sleep(kill_at)
        replica = next(
            actor
            for actor in ray.util.list_named_actors(all_namespaces=True)
            if "holder-0" in actor["name"] and "REPLICA" in actor["name"]
        )
        ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]))

    thread = threading.Thread(target=killer)
    thread.start()
    _, _, outcomes = throughput(ask_marked, args.clients, args.seconds)
    thread.join()
    before = [seconds for sent, seconds, _ in marks if sent < kill_at]
    after = [seconds for sent, seconds, _ in marks if sent >= kill_at]
    counts = {kind: outcomes.count(kind) for kind in sorted(set(outcomes))}
    print(f"\nreplica of holder-0 killed at {kill_at:.1f} s (2 holders x 2 replicas): {counts}")
    print(
        f"p50 / p99 before the kill {percentile_ms(before, 50):.0f} / {percentile_ms(before, 99):.0f} ms "
        f"({len(before)} queries); from the kill on {percentile_ms(after, 50):.0f} / {percentile_ms(after, 99):.0f} "
        f"ms ({len(after)} queries)"
    )
    serve.shutdown()
    ray.shutdown()
    local.close()


if __name__ == "__main__":
    main()
