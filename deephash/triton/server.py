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
from pathlib import Path

from deephash.errors import DeepHashError

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPOSITORY = REPOSITORY_ROOT / "model_repository"


class TritonError(DeepHashError):
    """The server could not be started or reached."""

    exit_code = 7


def free_port() -> int:
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


class TritonServer:
    """``with TritonServer(repository, model_dir=...) as server: server.grpc_url ...``"""

    def __init__(
        self,
        repository: Path = DEFAULT_REPOSITORY,
        model_dir: Path | None = None,
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        startup_timeout_s: float = 120.0,
        log_file: Path | None = None,
    ) -> None:
        self.repository, self.model_dir = Path(repository), model_dir
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.startup_timeout_s = startup_timeout_s
        self.log_file = log_file
        self._process: subprocess.Popen | None = None
        self._workspace: tempfile.TemporaryDirectory | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

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
        if self.model_dir is not None:
            env["DEEPHASH_MODEL"] = str(Path(self.model_dir).resolve())
        return env

    def start(self) -> TritonServer:
        server = self._prepare()
        command = [
            str(server / "bin" / "tritonserver"),
            f"--model-repository={self.repository.resolve()}",
            f"--backend-directory={server / 'backends'}",
            f"--cache-directory={server / 'caches'}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--exit-on-error=true",
            "--exit-timeout-secs=5",
        ]
        log = self.log_file.open("wb") if self.log_file else subprocess.DEVNULL
        self._process = subprocess.Popen(command, env=self._environment(), stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise TritonError(f"tritonserver exited with code {self._process.returncode} during start-up")
            if self.is_ready():
                return
            time.sleep(0.25)
        self.stop()
        raise TritonError(f"tritonserver was not ready within {self.startup_timeout_s:.0f} s")

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
