"""Triton: generated configs parse with Triton's own protobuf; a real tritonserver serves the cascade and
gives the in-process codes over gRPC and HTTP; dynamic batching merges requests; failures read clearly."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from clients.cli import main as client_main
from clients.triton import ClientError, TritonVideoClient
from deephash.hasher import EmbeddedHasher
from deephash.model.artifacts import load_config
from deephash.video import sample_frames
from export.triton_config import TritonModelConfig
from export.triton_repository import DEFAULT_REPOSITORY, default_settings, render_repository
from serving.triton_server import TritonServer, TritonServerConfig, free_port


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("target", ["python", "onnxruntime", "tensorrt"])
def test_every_flavour_parses_as_a_triton_model_config(default_model, target):
    parsed = parse(default_settings(target).to_pbtxt(load_config(default_model)))
    assert parsed.name == "deephash_video" and parsed.max_batch_size == 64
    assert list(parsed.input[0].dims) == [5, 3, 224, 224]
    assert [output.name for output in parsed.output][:3] == ["code", "l1_id", "l1_prob"]
    assert list(parsed.dynamic_batching.preferred_batch_size) == [8, 16, 32]
    assert (parsed.platform or parsed.backend) in ("python", "onnxruntime_onnx", "tensorrt_plan")


def test_committed_repository_is_what_the_generator_writes(default_model):
    committed = (DEFAULT_REPOSITORY / "deephash_video" / "config.pbtxt").read_text()
    assert committed == default_settings("python").to_pbtxt(load_config(default_model))


def test_gpu_flavour_copies_its_artefact(default_model, tmp_path):
    folder = render_repository(default_model, tmp_path, default_settings("onnxruntime"))
    assert (folder / "1" / "model.onnx").stat().st_size > 1_000_000
    assert (
        parse((folder / "config.pbtxt").read_text()).instance_group[0].kind
        == model_config_pb2.ModelInstanceGroup.KIND_GPU
    )


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="unknown target"):
        TritonModelConfig(target="tensorflow")


@pytest.fixture(scope="module")
def server(default_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("triton") / "server.log"
    config = TritonServerConfig(
        model_dir=default_model, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(), log_file=log
    )
    with TritonServer(config) as running:
        yield running


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_codes_equal_in_process_onnx_runtime(server, default_model, clips, protocol):
    url = server.grpc_url if protocol == "grpc" else server.http_url
    client = TritonVideoClient(url, load_config(default_model), protocol)
    assert client.is_ready()
    videos = list(clips.values())
    remote = client.hash_videos(videos, concurrency=2)
    batched = client.hash_videos(videos, concurrency=1, batch=len(videos))
    local = [EmbeddedHasher(default_model).hash_video(video) for video in videos]
    for a, b, c in zip(remote, batched, local):
        assert a.code_hex == b.code_hex == c.code_hex
        assert (a.l1.id, a.l2.id) == (c.l1.id, c.l2.id)
        assert abs(a.l2.probability - c.l2.probability) < 1e-4


def test_dynamic_batching_merges_concurrent_requests(server, default_model, clips):
    client = TritonVideoClient(server.grpc_url, load_config(default_model))
    frames = sample_frames(clips["bikes"]).frames[None]
    before = client.statistics()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: client.hash_frames(frames), range(48)))
    deadline = time.monotonic() + 10
    after = client.statistics()  # Triton counts an execution after answering it: wait until all are counted
    while after["inference_count"] - before["inference_count"] < 48 and time.monotonic() < deadline:
        time.sleep(0.1)
        after = client.statistics()
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 48
    assert executions < inferences, (executions, inferences)


def test_wrong_model_name_is_a_clear_error(server, default_model, clips):
    client = TritonVideoClient(server.grpc_url, load_config(default_model), model_name="nope")
    with pytest.raises(ClientError, match="does not serve model 'nope'"):
        client.hash_videos([clips["bikes"]])


def test_malformed_input_is_refused_with_a_message(server, default_model):
    client = TritonVideoClient(server.http_url, load_config(default_model), "http")
    with pytest.raises(ClientError, match="refused"):
        client.hash_frames(np.zeros((1, 3, 3, 224, 224), dtype=np.uint8))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_server_down_is_a_clear_error_not_a_traceback(default_model, clips, protocol, capsys):
    url = f"127.0.0.1:{free_port()}"
    client = TritonVideoClient(url, load_config(default_model), protocol, timeout_s=2, retries=1)
    with pytest.raises(ClientError, match="cannot reach Triton"):
        client.hash_videos([clips["bikes"]])
    code = client_main(["hash", str(clips["bikes"]), "--url", url, "--protocol", protocol, "--timeout", "2"])
    assert code == 8 and "cannot reach Triton" in capsys.readouterr().err


def test_client_cli_prints_codes(server, clips, capsys):
    assert client_main(["hash", str(clips["carphone_pristine"]), "--url", server.grpc_url, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    local = EmbeddedHasher(server.config.model_dir).hash_video(clips["carphone_pristine"])
    assert printed["code"] == local.code_hex and printed["video"] == str(clips["carphone_pristine"])


def test_triton_verb_serves_until_terminated(default_model, tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    ports = [str(free_port()) for _ in range(3)]
    command = [
        sys.executable,
        "-m",
        "deephash.cli.main",
        "triton",
        "--model",
        str(default_model),
        "--http-port",
        ports[0],
        "--grpc-port",
        ports[1],
        "--metrics-port",
        ports[2],
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        chosen = process.stdout.readline()  # the set-up measured batching on this machine
        assert "dynamic batching measured on this machine" in chosen, chosen
        ready = process.stdout.readline()
        assert "Triton ready" in ready and f"127.0.0.1:{ports[1]}" in ready
        client = TritonVideoClient(f"127.0.0.1:{ports[1]}", load_config(default_model))
        assert client.is_ready()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "Triton stopped" in process.stdout.read()
    finally:
        process.kill()
