"""The HTTP service's way to the embedded model: calls to the model service, and the same model run in this
process when that service stops answering.

BentoML stops the model service together with the HTTP workers on SIGTERM, and a server process that dies
leaves the model service's socket open in the HTTP worker, where connections are accepted and never answered.
So a call gives up as soon as the server process is gone, and uploads still in flight are finished with the
same ONNX model here instead of failing: identical codes either way. Under load, a call whose answer the model
service logged as sent was seen never to arrive; a call therefore also gives up after ``CALL_TIMEOUT_S`` and is
made again (it has no side effects). The time-out counts the wait in the model service's queue too: it is set far
above what a queue of the uploads one client may have in flight waits, a guess rather than a measured bound, and
an overloaded model service costs at most ``ATTEMPTS`` calls before the model runs here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import aiohttp
import numpy as np

from deephash.hasher import VideoHash, hashes_from_outputs, outputs_from_rows
from deephash.model.artifacts import ONNX_FILE
from deephash.model.config import ModelConfig
from deephash.model.onnx import OnnxRunner
from serving.lifecycle import ServerGone, server_alive

ATTEMPTS = 3
SERVER_CHECK_S = 0.5  # how often a call waiting on the model service checks that the server still runs
CALL_TIMEOUT_S = 15.0  # a call unanswered this long is lost, not queued: the model takes milliseconds per video
logger = logging.getLogger("deephash.service")


def connection_lost(error: Exception) -> bool:
    """Whether ``error`` is aiohttp's word for a connection the other side closed: a ``ClientConnectionError``
    while the request is sent, and (since aio-libs/aiohttp#8878) ``RuntimeError("Connection closed.")`` while the
    answer's body is read, which a closed keep-alive connection was seen to raise under load."""
    if isinstance(error, aiohttp.ClientConnectionError):
        return True
    return isinstance(error, RuntimeError) and str(error) == "Connection closed."


class EmbeddedModelClient:
    def __init__(self, service, model_dir: Path, config: ModelConfig) -> None:
        """``service``: the model service, or None to run ``model_dir``'s model in this process."""
        self.service, self.model_dir, self.config = service, Path(model_dir), config
        self._local: OnnxRunner | None = None  # made only if the model service stops answering
        self._making = threading.Lock()

    async def hash_frames(self, frames: np.ndarray) -> list[VideoHash]:
        if self.service is None:  # a model the model service does not run (another library version's)
            return await asyncio.to_thread(self._run_here, frames)
        failure: Exception | None = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                rows = await self._call(frames)
                return hashes_from_outputs(outputs_from_rows(rows), self.config)
            except (aiohttp.ClientConnectionError, RuntimeError) as error:
                # BentoML reuses keep-alive connections between services that the other side may have just
                # closed (bentoml/BentoML#4238, #3669); the call has no side effects, so try again.
                if not connection_lost(error):
                    raise
                failure = error
            except TimeoutError as error:  # an answer gone missing: rare, so worth a line in the log
                failure = error
                if attempt < ATTEMPTS:
                    logger.warning("the embedded model service did not answer (%r): asking again", error)
            except ServerGone as error:
                failure = error
                break
        logger.warning("the embedded model service did not answer (%r): running the model here", failure)
        return await asyncio.to_thread(self._run_here, frames)

    async def _call(self, frames: np.ndarray) -> list[dict]:
        call = asyncio.ensure_future(self.service.to_async.run(frames))
        deadline = asyncio.get_running_loop().time() + CALL_TIMEOUT_S
        while True:
            done, _ = await asyncio.wait({call}, timeout=SERVER_CHECK_S)
            if done:
                return call.result()
            if not server_alive():
                call.cancel()
                raise ServerGone("the server process is gone")
            if asyncio.get_running_loop().time() > deadline:
                call.cancel()
                raise TimeoutError(f"no answer within {CALL_TIMEOUT_S:.0f} s")

    def _run_here(self, frames: np.ndarray) -> list[VideoHash]:
        with self._making:  # one session, however many uploads arrive at once
            if self._local is None:
                self._local = OnnxRunner(self.model_dir / ONNX_FILE)
        return hashes_from_outputs(self._local.run(frames), self.config)
