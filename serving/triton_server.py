"""One owner for a local ``tritonserver`` process: start, wait for readiness, stop (also on exit).

The binary and the Python-backend stub come from nvidia-pytriton. The stub links ``libpython3.11.so.1.0``
and would pick Debian's copy (3.11.2) over the running interpreter's, and model loading then fails with
``'_thread.RLock' object has no attribute '_recursion_count'``; so the interpreter's LIBDIR leads
``LD_LIBRARY_PATH``. The environment's site-packages and this repository go on ``PYTHONPATH`` so that the
Python-backend model imports deephash and ONNX Runtime from this environment.
"""

from __future__ import annotations

import atexit
import os
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from deephash.errors import TritonError
from deephash.model.artifacts import MODEL_ENV
from export.triton_repository import DEFAULT_REPOSITORY, REPOSITORY_ROOT


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers started by tests and benchmarks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _distribution() -> tuple[Path, Path]:
    try:
        import pytriton
    except ImportError as error:
        raise TritonError("nvidia-pytriton is not installed; it ships the tritonserver binary") from error
    root = Path(pytriton.__file__).parent
    libs = root.parent / "nvidia_pytriton.libs"
    return root / "tritonserver", libs


@dataclass(frozen=True)
class TritonServerConfig:
    """Everything the server process is started with; :meth:`flags` is the one place its options are spelt."""

    repository: Path = DEFAULT_REPOSITORY
    model_dir: Path | None = None  # the model folder the Python-backend model loads ($DEEPHASH_MODEL)
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    address: str = "127.0.0.1"
    exit_timeout_s: int = 5
    startup_timeout_s: float = 120.0
    log_file: Path | None = None

    def flags(self, server: Path) -> list[str]:
        """Command-line options for the server copied to ``server``."""
        return [
            f"--model-repository={Path(self.repository).resolve()}",
            f"--backend-directory={server / 'backends'}",
            f"--cache-directory={server / 'caches'}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            f"--http-address={self.address}",
            f"--grpc-address={self.address}",
            "--exit-on-error=true",
            f"--exit-timeout-secs={self.exit_timeout_s}",
        ]


class TritonServer:
    """``with TritonServer(TritonServerConfig(model_dir=...)) as server: server.grpc_url ...``"""

    def __init__(self, config: TritonServerConfig = TritonServerConfig()) -> None:
        self.config = config
        self._process: subprocess.Popen | None = None
        self._workspace: tempfile.TemporaryDirectory | None = None

    @property
    def http_url(self) -> str:
        return f"{self.config.address}:{self.config.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.config.address}:{self.config.grpc_port}"

    def _prepare(self) -> Path:
        """Copy the server (without stubs) to a workspace and put this Python's stub into its backend."""
        dist, _ = _distribution()
        self._workspace = tempfile.TemporaryDirectory(prefix="deephash-triton-")
        server = Path(self._workspace.name) / "tritonserver"
        shutil.copytree(dist, server, ignore=shutil.ignore_patterns("python_backend_stubs"))
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonError(f"no Python-backend stub for Python {version} in {dist}")
        shutil.copy(stub, server / "backends" / "python" / "triton_python_backend_stub")
        return server

    def _environment(self) -> dict[str, str]:
        _, libs = _distribution()
        env = dict(os.environ)
        library_path = [sysconfig.get_config_var("LIBDIR"), str(libs), env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = ":".join(part for part in library_path if part)
        python_path = [str(REPOSITORY_ROOT), *site.getsitepackages(), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = ":".join(part for part in python_path if part)
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        if self.config.model_dir is not None:
            env[MODEL_ENV] = str(Path(self.config.model_dir).resolve())
        return env

    def start(self) -> TritonServer:
        server = self._prepare()
        command = [str(server / "bin" / "tritonserver"), *self.config.flags(server)]
        log = self.config.log_file.open("wb") if self.config.log_file else subprocess.DEVNULL
        self._process = subprocess.Popen(command, env=self._environment(), stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise TritonError(f"tritonserver exited with code {self._process.returncode} during start-up")
            if self.is_ready():
                return
            time.sleep(0.25)
        self.stop()
        raise TritonError(f"tritonserver was not ready within {self.config.startup_timeout_s:.0f} s")

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
