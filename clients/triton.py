"""A client of the ``deephash_video`` model on Triton, over gRPC or HTTP.

Videos are decoded locally by the library's frame sampler and sent as uint8 frames; a list of videos can go
as one request (the batch axis) or as concurrent single-video requests that Triton's dynamic batcher merges.
Every failure becomes a :class:`ClientError` with a sentence a person can act on.

Large inputs: one video is T x 3 x 224 x 224 bytes (752,640 at T=5). gRPC's default message limit (4 MiB)
would stop at 5 videos per request, so the channel allows :data:`GRPC_MESSAGE_BYTES` (256 MiB, ~350 videos);
Triton itself accepts up to ``max_batch_size`` videos per request (64 in the shipped config).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.errors import RemoteError
from deephash.hasher import VideoHash, hashes_from_outputs
from deephash.model.config import SERVED_MODEL_NAME, ModelConfig
from deephash.video import sample_frames

GRPC_MESSAGE_BYTES = 256 * 1024 * 1024


class ClientError(RemoteError):
    """The server could not be reached or refused a request."""


def _frames_input(module, frames: np.ndarray):
    """The model's one input, for the protocol ``module`` (tritonclient.grpc or .http)."""
    request = module.InferInput("frames", list(frames.shape), "UINT8")
    request.set_data_from_numpy(np.ascontiguousarray(frames, dtype=np.uint8))
    return request


def _hashes(response, count: int, config: ModelConfig) -> list[VideoHash]:
    outputs = {name: response.as_numpy(name) for name in config.output_names}
    outputs = {
        name: value.reshape(count, -1) if name in ("code", "verification") else value.reshape(-1)
        for name, value in outputs.items()
    }
    return hashes_from_outputs(outputs, config)


# gRPC statuses of a server that cannot be reached or did not answer in time; the HTTP client raises the
# socket's own OSError (ConnectionRefusedError, TimeoutError) instead of a status
UNREACHABLE_STATUSES = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED"})
UNKNOWN_MODEL_STATUSES = frozenset({"StatusCode.NOT_FOUND", "404"})


def _message(error: Exception) -> str:
    """tritonclient's exceptions keep their text in ``message()``."""
    return str(error.message() or error) if hasattr(error, "message") else str(error)


def _unreachable(error: Exception) -> bool:
    """Connection trouble worth retrying (and reporting as "cannot reach"), by status, not by message text."""
    if isinstance(error, OSError):
        return True
    return hasattr(error, "status") and error.status() in UNREACHABLE_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, ``0.2 * 2**n`` seconds apart, for connection trouble only."""

    retries: int = 2
    first_backoff_s: float = 0.2

    def backoff_s(self, attempt: int) -> float:
        return self.first_backoff_s * 2**attempt

    def should_retry(self, error: Exception, attempt: int) -> bool:
        return _unreachable(error) and attempt < self.retries


def _client_error(error: Exception, url: str, protocol: str, model_name: str, what: str) -> ClientError:
    """One sentence for a tritonclient error: unreachable, unknown model, or refused."""
    message = _message(error)
    if _unreachable(error):
        return ClientError(f"cannot reach Triton at {url} over {protocol} ({what}): {message}")
    status = error.status() if hasattr(error, "status") else None
    if status in UNKNOWN_MODEL_STATUSES or "unknown model" in message.lower():
        return ClientError(f"Triton at {url} does not serve model {model_name!r}")
    return ClientError(f"Triton refused the request ({what}): {message}")


def _grpc_channel_args() -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", GRPC_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", GRPC_MESSAGE_BYTES),
    ]


class TritonVideoClient:
    """Thread-safe: each thread gets its own connection (the HTTP client is not thread-safe)."""

    def __init__(
        self,
        url: str,
        config: ModelConfig,
        protocol: str = "grpc",
        model_name: str = SERVED_MODEL_NAME,
        timeout_s: float = 30.0,
        retries: int = 2,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ClientError(f"protocol must be grpc or http, not {protocol!r}")
        self.url, self.config, self.protocol = url, config, protocol
        self.model_name, self.timeout_s, self.retry = model_name, timeout_s, RetryPolicy(retries)
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            if self.protocol == "grpc":
                import tritonclient.grpc as module

                client = module.InferenceServerClient(self.url, channel_args=_grpc_channel_args())
            else:
                import tritonclient.http as module

                client = module.InferenceServerClient(
                    self.url, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
                )
            self._local.client, self._local.module = client, module
        return client

    def _call(self, action: Callable, what: str):
        """Run ``action(client)`` with retries on connection trouble, translating errors once."""
        from tritonclient.utils import InferenceServerException

        attempt = 0
        while True:
            try:
                return action(self._client())
            except (InferenceServerException, OSError) as error:
                if not self.retry.should_retry(error, attempt):
                    raise _client_error(error, self.url, self.protocol, self.model_name, what) from error
            time.sleep(self.retry.backoff_s(attempt))
            attempt += 1

    def is_ready(self) -> bool:
        return bool(self._call(lambda client: client.is_model_ready(self.model_name), "readiness"))

    def hash_frames(self, frames: np.ndarray) -> list[VideoHash]:
        """uint8 ``[B, T, 3, S, S]`` as one request → one result per video."""

        def infer(client):
            request = _frames_input(self._local.module, frames)
            if self.protocol == "grpc":
                return client.infer(self.model_name, [request], client_timeout=self.timeout_s)
            return client.infer(self.model_name, [request])

        return _hashes(self._call(infer, f"{len(frames)} videos"), len(frames), self.config)

    def _sample(self, video: Path | str | bytes) -> np.ndarray:
        return sample_frames(video, self.config.frame_spec).frames

    def hash_videos(
        self,
        videos: Sequence[Path | str],
        concurrency: int = 4,
        batch: int = 1,
        progress: bool = False,
    ) -> list[VideoHash]:
        """Hash many videos: requests of ``batch`` videos, ``concurrency`` requests in flight."""
        groups = [list(videos[start : start + batch]) for start in range(0, len(videos), batch)]

        def run(group: list) -> list[VideoHash]:
            return self.hash_frames(np.stack([self._sample(video) for video in group]))

        results: list[VideoHash] = []
        with (
            ThreadPoolExecutor(max(1, concurrency)) as pool,
            tqdm(total=len(videos), desc="hashing", unit="video", disable=not progress) as bar,
        ):
            for hashes in pool.map(run, groups):
                results += hashes
                bar.update(len(hashes))
        return results

    def statistics(self) -> dict:
        """Triton's inference statistics for the model (inference and execution counts)."""

        def fetch(client):
            if self.protocol == "grpc":
                return client.get_inference_statistics(self.model_name, as_json=True)
            return client.get_inference_statistics(self.model_name)

        stats = self._call(fetch, "statistics")["model_stats"][0]
        return {
            "inference_count": int(stats.get("inference_count", 0)),
            "execution_count": int(stats.get("execution_count", 0)),
        }


class AsyncTritonVideoClient:
    """The gRPC client for event-loop servers (the BentoML service): no thread per request in flight.

    tritonclient's asyncio channel binds to the loop it is made in, so make this inside the running loop
    (the service's ``@bentoml.on_startup`` hook). Every call has ``timeout_s`` (tritonclient would otherwise
    wait forever) and connection trouble is retried ``retries`` times with back-off.
    """

    def __init__(
        self,
        url: str,
        config: ModelConfig,
        model_name: str = SERVED_MODEL_NAME,
        timeout_s: float = 30.0,
        retries: int = 1,
    ) -> None:
        import tritonclient.grpc as grpc_module
        import tritonclient.grpc.aio as aio

        self.url, self.config, self.model_name = url, config, model_name
        self.timeout_s, self.retry = timeout_s, RetryPolicy(retries)
        self._module = grpc_module
        self._client = aio.InferenceServerClient(url, channel_args=_grpc_channel_args())

    async def _call(self, action: Callable, what: str):
        from tritonclient.utils import InferenceServerException

        attempt = 0
        while True:
            try:
                return await action()
            except InferenceServerException as error:
                if not self.retry.should_retry(error, attempt):
                    raise _client_error(error, self.url, "grpc", self.model_name, what) from error
            await asyncio.sleep(self.retry.backoff_s(attempt))
            attempt += 1

    async def is_ready(self) -> bool:
        """Whether Triton answers and has the model loaded (False rather than an error when it is down)."""
        try:
            return bool(
                await self._call(
                    lambda: self._client.is_model_ready(self.model_name, client_timeout=self.timeout_s), "readiness"
                )
            )
        except ClientError:
            return False

    async def hash_frames(self, frames: np.ndarray) -> list[VideoHash]:
        """uint8 ``[B, T, 3, S, S]`` as one request → one result per video."""
        request = _frames_input(self._module, frames)
        response = await self._call(
            lambda: self._client.infer(self.model_name, [request], client_timeout=self.timeout_s),
            f"{len(frames)} videos",
        )
        return _hashes(response, len(frames), self.config)

    async def close(self) -> None:
        await self._client.close()
