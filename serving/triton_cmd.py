"""``deephash triton``: serve the model repository with the tritonserver bundled in nvidia-pytriton."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path

from deephash.cli.common import add_model_option, model_dir
from deephash.model.batching import BatchingProfile
from export.triton_repository import DEFAULT_REPOSITORY, default_settings, render_repository
from serving.triton_server import TritonServer, TritonServerConfig


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "triton",
        help="run Triton on model_repository/ (CPU flavour) until interrupted",
        description="Start the bundled tritonserver on the repository, wait until it is ready, print its "
        "endpoints, and stop it cleanly on Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--repository",
        type=Path,
        help="model repository (default: the committed CPU flavour, its dynamic batching replaced by the batch "
        "sizes `deephash export batching` measured to pay off on this machine when the model has that profile)",
    )
    add_model_option(parser)
    parser.add_argument("--http-port", type=int, default=8000, help="HTTP/REST port on 127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC port on 127.0.0.1")
    parser.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port")
    parser.add_argument("--log", type=Path, help="write the server log here")
    parser.set_defaults(run=run)


def run(args) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="deephash-repository-") as folder:
        repository = args.repository or repository_for_this_machine(model_dir(args), Path(folder))
        return _serve(args, repository, stop)


def repository_for_this_machine(model: Path, folder: Path) -> Path:
    """The committed CPU flavour, or, when the model's batching profile was measured here, the same flavour
    batching only the sizes that paid off (none on CPUs where batch 1 is fastest)."""
    profile = BatchingProfile.load(model)
    if profile is None or not profile.measured_here():
        print(f"no batching profile of this machine for {model}: the committed repository's batching is used")
        return DEFAULT_REPOSITORY
    print(f"dynamic batching measured on this machine: {list(profile.useful_sizes) or 'off (batch 1 is fastest)'}")
    render_repository(model, folder, default_settings("python").with_batching(profile))
    return folder


def _serve(args, repository: Path, stop: threading.Event) -> int:
    config = TritonServerConfig(
        repository=repository,
        model_dir=model_dir(args),
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        log_file=args.log,
    )
    server = TritonServer(config)
    with server:
        print(f"Triton ready: gRPC {server.grpc_url}, HTTP {server.http_url}, metrics :{args.metrics_port}", flush=True)
        try:
            while not stop.wait(1.0):
                if not server.is_alive():
                    print("tritonserver exited")
                    return 1
        except KeyboardInterrupt:
            pass
    print("Triton stopped")
    return 0
