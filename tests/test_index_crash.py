"""Crash safety with real processes: a writer killed by SIGKILL at random moments, readers during appends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from deephash.index import Library
from tests.conftest import REPO
from tests.index_workers import make_code, make_descriptor, read_code

WORKER = [sys.executable, "-m", "tests.index_workers"]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, *args], cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ})


def collect(process: subprocess.Popen, lines: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # six SIGKILLed writer processes per run
@pytest.mark.parametrize("verify_dims", [0, 24])  # codes alone; codes with verification descriptors
def test_sigkilled_writer_never_loses_an_acknowledged_row(tmp_path, verify_dims):
    folder = tmp_path / "lib"
    Library.create(folder, 128, "crash-test", shard_capacity=500, verify_dims=verify_dims).close()
    acknowledged: dict[int, int] = {}
    recoveries: list[str] = []
    chance = random.Random(1)
    for round_number in range(6):
        process = start("writer", str(folder), str(round_number * 1_000_000))
        lines: list[str] = []
        reader = collect(process, lines)
        deadline = time.monotonic() + 60
        while not any(line.startswith("ack") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)  # the writer is up once it acknowledged something
        time.sleep(chance.uniform(0.1, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        reader.join(timeout=5)
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "ack":
                for item in rest.split():
                    number, version = map(int, item.split(":"))
                    acknowledged[number] = version
            elif kind == "recovery":
                recoveries.append(rest.strip())
        assert any(line.startswith("ack") for line in lines), "the writer acknowledged nothing"
    with Library.open(folder, writable=True) as library:
        recoveries += library.recovery
        assert library.verify() == []
        for number, version in acknowledged.items():
            stored = library.get(str(number))
            decoded = read_code(stored.code)
            assert decoded is not None and decoded[0] == number
            assert decoded[1] >= version  # a later, unacknowledged replace may have landed too
            assert np.array_equal(stored.code, make_code(number, decoded[1]))
            assert (stored.l1, stored.l2) == (number % 3, number % 7)
            if verify_dims:  # int8 of a unit vector: within half a step of 1/127 of its largest component
                expected = make_descriptor(number, decoded[1], verify_dims)
                assert np.abs(stored.verify - expected).max() <= np.abs(expected).max() / 254 + 1e-6
        print(f"kills 6, acknowledged {len(acknowledged)}, live {len(library)}, repairs: {recoveries}")
        assert len(library) >= len(acknowledged)


def test_readers_never_see_a_torn_row_during_appends(tmp_path):
    folder = tmp_path / "lib"
    Library.create(folder, 128, "reader-test", shard_capacity=300).close()
    writer = start("writer", str(folder), "0")
    readers = [start("reader", str(folder), "3") for _ in range(2)]
    try:
        outputs = [process.communicate(timeout=60)[0] for process in readers]
    finally:
        writer.kill()
        writer.wait()
    for process, output in zip(readers, outputs):
        assert process.returncode == 0, output
        assert output.startswith("ok")
        assert int(output.split()[3]) > 0  # rows checked
