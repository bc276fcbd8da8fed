"""The version gate alone: under concurrent requests and back-to-back switches, no request sees a switch."""

from __future__ import annotations

import asyncio
import random

from serving.version_gate import VersionGate


def test_no_request_sees_a_switch_and_no_switch_sees_a_request():
    async def scenario() -> int:
        gate, rng, served = VersionGate(), random.Random(0), [0]
        gate.version = "v0"

        async def request() -> None:
            for _ in range(40):
                async with gate.request() as version:
                    await asyncio.sleep(rng.random() / 1000)
                    assert gate.version == version  # nothing changed under the request
                    served[0] += 1

        async def switches(prefix: str) -> None:
            for number in range(15):
                async with gate.switch():
                    assert gate.in_flight == 0
                    gate.version = f"{prefix}{number}"
                    await asyncio.sleep(rng.random() / 1000)
                await asyncio.sleep(0)  # a second switch may be queued right behind this one

        await asyncio.gather(*(request() for _ in range(16)), switches("a"), switches("b"))
        return served[0]

    assert asyncio.run(scenario()) == 16 * 40
