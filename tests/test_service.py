"""The BentoML service through a real `bentoml serve` process and real HTTP uploads."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from clients.service import ServiceError, wait_for_service
from deephash.data.make_dataset import VARIANT_STRENGTH, make_variant
from deephash.hasher import EmbeddedHasher
from deephash.index import Library
from deephash.search_options import SearchOptions
from deephash.video.files import read_video, write_video
from serving.triton_server import TritonServer, TritonServerConfig, free_port
from tests.conftest import REPO

PORT_ATTEMPTS = 3


class Service:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.data = Path(env["DEEPHASH_DATA"])
        for attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            command = [sys.executable, "-m", "bentoml", "serve", "serving.service:DeepHashService"]
            command += ["--port", str(self.port), "--host", "127.0.0.1"]
            self.process = subprocess.Popen(
                command, cwd=REPO, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            self.url = f"http://127.0.0.1:{self.port}"
            try:
                wait_for_service(self.url, "livez", 120, alive=lambda: self.process.poll() is None)
                return
            except ServiceError as error:
                text = log.read_text()
                # free_port's port can be taken (e.g. as a connection's source port) before the server binds it
                if "Address already in use" in text and attempt < PORT_ATTEMPTS - 1:
                    continue
                raise AssertionError(text[-2000:]) from error

    def upload(self, endpoint: str, video: Path, **fields) -> httpx.Response:
        with video.open("rb") as handle:
            files = {"video": (video.name, handle, "video/mp4")}
            return httpx.post(f"{self.url}/{endpoint}", files=files, data=fields, timeout=120)

    def call(self, endpoint: str, **payload) -> httpx.Response:
        return httpx.post(f"{self.url}/{endpoint}", json=payload, timeout=120)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(tmp_path_factory, default_model, **env) -> Service:
    folder = tmp_path_factory.mktemp("service")
    settings = {
        "DEEPHASH_MODEL": str(default_model),
        "DEEPHASH_DATA": str(folder / "data"),
        "DEEPHASH_MAX_UPLOAD_MB": "2",
        "DEEPHASH_AUTH": "open",  # test_authentication_and_roles starts one with tokens
        **env,
    }
    return Service(settings, folder / "service.log")


@pytest.fixture(scope="module")
def service(tmp_path_factory, default_model):
    running = start(tmp_path_factory, default_model)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def near_duplicates(tmp_path_factory, clips) -> dict[str, tuple[Path, str]]:
    """Edited copies of the sample clips (edit families at the dataset's variants' strength) → (file, source id)."""
    folder = tmp_path_factory.mktemp("variants")
    made = {}
    for source in ("carphone_pristine", "bikes"):
        for family in ("crop_zoom", "colour", "overlay", "low_bitrate"):
            path = make_variant(clips[source], family, folder / f"{source}-{family}.mp4", VARIANT_STRENGTH)
            made[path.stem] = (path, source)
    return made


def test_near_duplicates_find_their_source_first(service, clips, near_duplicates):
    for name, path in clips.items():
        if name != "carphone_distorted":
            response = service.upload("add", path, video_id=name)
            assert response.status_code == 200, response.text
            assert response.json()["outcome"] in ("added", "unchanged")
    options = '{"k": 3, "same_group": false, "masked": false}'
    for name, (path, source) in near_duplicates.items():
        hits = service.upload("search", path, options=options).json()
        assert hits[0]["video_id"] == source, (name, hits)
    hits = service.upload("search", clips["carphone_distorted"], options=options).json()
    # rank 1 in most builds, but not every build separates it from bikes (see test_default_model)
    assert "carphone_pristine" in [hit["video_id"] for hit in hits[:2]]


def test_add_is_idempotent_and_reuses_the_stored_code(service, clips):
    first = service.upload("add", clips["bikes"], video_id="again").json()
    second = service.upload("add", clips["bikes"], video_id="again").json()
    assert first["reused_stored_code"] is False
    assert second == {"video_id": "again", "outcome": "unchanged", "reused_stored_code": True}
    stored = service.call("get", video_id="again").json()
    hashed = service.upload("hash", clips["bikes"]).json()
    assert stored["code"] == hashed["code"] and hashed["audio_code"] is None
    assert service.call("remove", video_id="again").status_code == 200
    assert service.call("get", video_id="again").status_code == 404


def test_search_by_code_and_by_id(service, clips):
    service.upload("add", clips["bigbuckbunny"], video_id="bunny")
    stored = service.call("get", video_id="bunny").json()
    hits = service.call("search_code", code=stored["code"], l1=stored["l1"], l2=stored["l2"]).json()
    exact = [hit["video_id"] for hit in hits if hit["distance"] == 0]
    assert "bunny" in exact  # beside "bigbuckbunny", the same file added earlier
    others = service.call("search_id", video_id="bunny", options={"same_group": False}).json()
    assert "bunny" not in [hit["video_id"] for hit in others]


def test_audio_search_finds_a_reencoded_soundtrack(service, clips, tmp_path):
    service.upload("add", clips["bigbuckbunny"], video_id="bunny-audio")
    video = read_video(clips["bigbuckbunny"])
    copy = write_video(
        tmp_path / "bunny-opus.mkv",
        video.frames[::2],
        video.fps / 2,
        audio=video.audio,
        sample_rate=video.sample_rate,
        audio_codec="aac",
        audio_bitrate=24_000,
    )
    hashed = service.upload("hash", copy).json()
    assert hashed["audio_code"] is not None
    hits = service.upload("search", copy, options='{"modality": "audio", "k": 2}').json()
    same_sound = ("bigbuckbunny", "bunny", "bunny-audio")
    assert hits[0]["video_id"] in same_sound and hits[0]["audio_distance"] <= 24  # unrelated: ~64
    both = service.upload("search", copy, options='{"modality": "both", "k": 2, "same_group": false}').json()
    assert both[0]["video_id"] in same_sound


def test_errors_are_clear_and_leave_the_library_unchanged(service, clips, tmp_path):
    before = service.call("stats").json()
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clips["bikes"].read_bytes()[:20_000])
    for bad in (not_video, empty, truncated):
        response = service.upload("add", bad, video_id=f"bad-{bad.stem}")
        assert response.status_code == 400 and "error" in response.text, response.text
    big = tmp_path / "big.mp4"
    big.write_bytes(clips["bigbuckbunny"].read_bytes() * 3)
    assert service.upload("add", big, video_id="big").status_code == 413
    for bad_id in ("", "x" * 300, "a\x00b"):  # ids are 1-256 bytes of printable UTF-8
        response = service.upload("add", clips["bikes"], video_id=bad_id)
        assert response.status_code == 400 and "video id" in response.text, response.text
    assert service.call("get", video_id="nobody").status_code == 404
    assert service.call("remove", video_id="nobody").status_code == 404
    assert service.call("stats").json()["video"]["rows"] == before["video"]["rows"]


def test_an_upload_as_curl_sends_it_is_hashed_and_a_non_video_refused_by_content(service, clips, tmp_path):
    """curl -F sends application/octet-stream, whatever the file: accepted, and judged by what it decodes to."""
    expected = service.upload("hash", clips["bikes"]).json()["code"]
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a video\n" * 100)
    for path, status in ((clips["bikes"], 200), (not_video, 400)):
        command = ["curl", "-s", "-o", str(tmp_path / "answer"), "-w", "%{http_code}", "-F", f"video=@{path}"]
        answer = subprocess.run([*command, f"{service.url}/hash"], capture_output=True, text=True, check=True)
        assert int(answer.stdout) == status, (tmp_path / "answer").read_text()
    assert "a text file, not a video" in (tmp_path / "answer").read_text()
    command = ["curl", "-s", "-F", f"video=@{clips['bikes']}", f"{service.url}/hash"]
    assert json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)["code"] == expected


def test_library_of_another_model_is_a_conflict(tmp_path_factory, default_model, clips):
    folder = tmp_path_factory.mktemp("foreign")
    Library.create(folder / "video", 128, "another-model").close()
    env = {"DEEPHASH_MODEL": str(default_model), "DEEPHASH_DATA": str(folder), "DEEPHASH_AUTH": "open"}
    running = Service(env, folder / "log")
    try:
        assert httpx.get(f"{running.url}/readyz", timeout=5).status_code != 200
        response = running.upload("add", clips["bikes"], video_id="x")
        assert response.status_code == 409 and "not comparable" in response.text
        assert running.upload("hash", clips["bikes"]).status_code == 200
    finally:
        running.stop()


def test_triton_backend_gives_the_same_codes_and_503_when_down(tmp_path_factory, default_model, clips, service):
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    with TritonServer(TritonServerConfig(model_dir=default_model, **ports)) as triton:
        remote = start(tmp_path_factory, default_model, DEEPHASH_TRITON_URL=triton.grpc_url)
        try:
            assert httpx.get(f"{remote.url}/readyz", timeout=10).status_code == 200
            for name in ("bikes", "carphone_pristine"):
                a = remote.upload("hash", clips[name]).json()
                b = service.upload("hash", clips[name]).json()
                assert a["code"] == b["code"] and a["l2"]["id"] == b["l2"]["id"]
        finally:
            remote.stop()
    down = start(tmp_path_factory, default_model, DEEPHASH_TRITON_URL=f"127.0.0.1:{free_port()}")
    try:
        assert httpx.get(f"{down.url}/readyz", timeout=10).status_code == 503  # readiness asks Triton
        response = down.upload("hash", clips["bikes"])
        assert response.status_code == 503 and "error" in response.json()  # BentoML hides 5xx details
        # ... and names the request: its id is the span id that the server log's line of the full cause carries
        request_id = response.headers["X-BentoML-Request-ID"]
        logged = [line for line in down.log.read_text().splitlines() if f"span={request_id}" in line]
        assert logged and any("Exception on" in line for line in logged), logged
        cause = down.log.read_text().split(f"span={request_id}", 1)[1]
        assert "cannot reach Triton" in cause[:20_000]  # the traceback after that line names the fault
    finally:
        down.stop()


def test_an_open_server_says_so_loudly(service):
    assert "ASKS NO ONE FOR A TOKEN" in service.log.read_text()


def test_service_client_and_cli(service, clips, capsys):
    from clients.cli import main as client_main
    from clients.service import ServiceClient, ServiceError

    client = ServiceClient(service.url)
    client.add("bikes", clips["bikes"])
    assert client.add("cli-bikes", clips["bikes"])["video_id"] == "cli-bikes"
    assert client.search_id("cli-bikes", SearchOptions(k=1, same_group=False))[0]["video_id"] == "bikes"
    with pytest.raises(ServiceError) as raised:
        client.get("nobody")
    assert raised.value.status == 404
    assert client_main(["get", "cli-bikes", "--service", service.url]) == 0
    assert '"video_id": "cli-bikes"' in capsys.readouterr().out
    assert client_main(["search", "--video", str(clips["bikes"]), "--service", service.url, "-k", "2"]) == 0
    assert client_main(["remove", "nobody", "--service", service.url]) == 8
    assert "HTTP 404" in capsys.readouterr().err


def test_bentoml_build_packs_service_model_and_repository(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    source = next((tmp_path / "bentos" / "deephash").glob("*/src"))
    for needed in (
        "serving/service.py",
        "serving/embedded_model.py",
        "deephash/catalog.py",
        "clients/triton.py",
        "model_repository/deephash_video/config.pbtxt",
        "model_repository/deephash_video/1/model.py",
        "artifacts/default-model/model.onnx",
        "artifacts/default-model/mask.npz",
    ):
        assert (source / needed).is_file(), needed
    # the image installs the project from its own pyproject.toml: one list of run-time dependencies
    requirements = (source.parent / "env" / "python" / "requirements.txt").read_text().split()
    assert requirements[0] == "." and (source / "pyproject.toml").is_file() and (source / "README.md").is_file()
    runtime = tomllib.loads((source / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(line.startswith("onnxruntime") for line in runtime) and not any("torch" in line for line in runtime)


def _batch_histogram(metrics: str) -> tuple[float, float]:
    """(batches, videos) the embedded model service ran, from BentoML's adaptive batch size histogram."""
    values = {}
    for line in metrics.splitlines():
        if line.startswith("bentoml_service_adaptive_batch_size_") and 'method_name="run"' in line:
            name = line.split("{")[0].removeprefix("bentoml_service_adaptive_batch_size_")
            values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return values.get("count", 0.0), values.get("sum", 0.0)


def test_metrics_and_adaptive_batching_of_concurrent_uploads(tmp_path_factory, default_model, clips):
    # the mechanism under test, whatever batch sizes the model's batching.json found useful on this machine
    service = start(tmp_path_factory, default_model, DEEPHASH_MAX_BATCH="16")
    try:
        alone = service.upload("hash", clips["carphone_pristine"]).json()
        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(lambda _: service.upload("hash", clips["carphone_pristine"]), range(12)))
            # past uvicorn's 5 s keep-alive: the services' idle connections are closed under the caller
            # (bentoml/BentoML#4238), which must not turn into failed requests
            time.sleep(6)
            together += pool.map(lambda _: service.upload("hash", clips["carphone_pristine"]), range(6))
        service.upload("add", clips["carphone_pristine"], video_id="metrics")
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
    finally:
        service.stop()
    assert all(response.status_code == 200 for response in together)
    assert {response.json()["code"] for response in together} == {alone["code"]}  # batching changes nothing
    batches, videos = _batch_histogram(text)
    assert videos == 20 and batches < videos, (batches, videos)  # 19 hashes + 1 add; some ran together
    ours = [line for line in text.splitlines() if line.startswith("deephash")]
    assert any(line.startswith('deephash_videos_hashed_total{backend="embedded"}') for line in ours), ours
    assert any(line.startswith('deephash_library_rows{library="video"}') for line in ours), ours


def test_authentication_and_roles(tmp_path_factory, default_model, clips):
    """3 roles × every endpoint against a real server; tokens rotate without a restart; no token → 401."""
    from serving.auth import new_token

    tokens = {role: new_token(role, f"test-{role}") for role in ("read", "write", "admin")}
    folder = tmp_path_factory.mktemp("auth")
    tokens_file = folder / "tokens"
    tokens_file.write_text("".join(line + "\n" for _, line in tokens.values()))
    audit = folder / "audit.jsonl"
    running = start(
        tmp_path_factory,
        default_model,
        DEEPHASH_AUTH="tokens",
        DEEPHASH_TOKENS_FILE=str(tokens_file),
        DEEPHASH_AUDIT_LOG=str(audit),
    )
    video = clips["carphone_pristine"]
    calls = {  # endpoint → (role it needs, how to call it with headers)
        "hash": ("read", lambda h: running_upload(running, "hash", video, h)),
        "add": ("write", lambda h: running_upload(running, "add", video, h, video_id="auth-1")),
        "search": ("read", lambda h: running_upload(running, "search", video, h)),
        "search_code": ("read", lambda h: post(running, "search_code", h, code="0" * 32, l1=0, l2=0)),
        "search_id": ("read", lambda h: post(running, "search_id", h, video_id="auth-1")),
        "get": ("read", lambda h: post(running, "get", h, video_id="auth-1")),
        "stats": ("read", lambda h: post(running, "stats", h)),
        "remove": ("write", lambda h: post(running, "remove", h, video_id="auth-1")),
        "activate": ("admin", lambda h: post(running, "activate", h, name="0123456789abcdef")),  # 404: no such
        "backup": ("admin", lambda h: post(running, "backup", h)),
    }
    rank = ["read", "write", "admin"]
    try:
        for endpoint, (needed, call) in calls.items():
            assert call({}).status_code == 401, endpoint
            assert call({"Authorization": "Bearer not-a-token"}).status_code == 401, endpoint
            for role, (token, _) in tokens.items():
                status = call({"Authorization": f"Bearer {token}"}).status_code
                if rank.index(role) < rank.index(needed):
                    assert status == 403, (endpoint, role, status)
                else:
                    assert status in (200, 404), (endpoint, role, status)  # 404: removed already
        rotated, line = new_token("read")
        tokens_file.write_text(line + "\n")  # every old token revoked, a new one granted
        assert post(running, "stats", {"Authorization": f"Bearer {tokens['admin'][0]}"}).status_code == 401
        assert post(running, "stats", {"Authorization": f"Bearer {rotated}"}).status_code == 200
    finally:
        running.stop()
    log = running.log.read_text()
    assert "ASKS NO ONE" not in log  # only an open server warns that it is open
    assert not any(token in log for token, _ in tokens.values())  # tokens are never logged
    trail = [json.loads(line) for line in audit.read_text().splitlines()]
    backup = trail.pop()
    assert (backup["action"], backup["who"], backup["status"]) == ("backup", "test-admin", 200)
    assert [(entry["action"], entry["who"], entry["outcome"], entry["status"]) for entry in trail] == [
        ("add", None, "refused", 401),
        ("add", None, "refused", 401),
        ("add", None, "refused", 403),
        ("add", "test-write", "added", 200),
        ("add", "test-admin", "unchanged", 200),
        ("remove", None, "refused", 401),
        ("remove", None, "refused", 401),
        ("remove", None, "refused", 403),
        ("remove", "test-write", "removed", 200),
        ("remove", "test-admin", "failed", 404),
        ("activate", None, "refused", 401),
        ("activate", None, "refused", 401),
        ("activate", None, "refused", 403),
        ("activate", None, "refused", 403),
        ("activate", "test-admin", "failed", 404),  # no such version
    ]
    subjects = {entry["action"]: entry["video_id"] for entry in trail}
    assert subjects == {"add": "auth-1", "remove": "auth-1", "activate": "0123456789abcdef"}
    assert all(entry["client"] == "127.0.0.1" for entry in trail)
    assert not any(token in audit.read_text() for token, _ in tokens.values())


def running_upload(running: Service, endpoint: str, video: Path, headers: dict, **fields) -> httpx.Response:
    with video.open("rb") as handle:
        files = {"video": (video.name, handle, "video/mp4")}
        return httpx.post(f"{running.url}/{endpoint}", files=files, data=fields, headers=headers, timeout=120)


def post(running: Service, endpoint: str, headers: dict, **payload) -> httpx.Response:
    return httpx.post(f"{running.url}/{endpoint}", json=payload, headers=headers, timeout=120)


def _raw_upload_until_answered(
    port: int, headers: str, chunks: int, chunk_bytes: int, stored=lambda: 0
) -> tuple[bytes, int, int]:
    """Stream a chunked body of up to ``chunks`` x ``chunk_bytes`` and stop at the server's first answer:
    (the answer, bytes sent before it came, the most ``stored()`` reported meanwhile)."""
    part = b'--b\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(headers.encode())
        if chunks:  # the body is one multipart file field, then zeros
            connection.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sent, chunk, most = 0, b"\0" * chunk_bytes, 0
        for _ in range(chunks):
            most = max(most, stored())
            if select.select([connection], [], [], 0)[0]:
                break
            try:
                connection.sendall(f"{chunk_bytes:x}\r\n".encode() + chunk + b"\r\n")
            except OSError:  # the server closed the connection after answering
                break
            sent += chunk_bytes
        return _read_answer(connection), sent, max(most, stored())


def _read_answer(connection: socket.socket) -> bytes:
    """One HTTP response: its head, then as many body bytes as its Content-Length says."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def test_an_oversized_upload_is_refused_while_it_streams(tmp_path_factory, default_model):
    """10 GiB streamed without a length and 10 GB announced with one: both 413 long before the end, and the
    server's temporary folder never holds more than the upload limit (2 MiB here)."""
    spool = tmp_path_factory.mktemp("spool")
    server = start(tmp_path_factory, default_model, TMPDIR=str(spool))
    try:
        request = (
            "POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )

        def stored() -> int:
            return sum(path.stat().st_size for path in spool.rglob("*") if path.is_file())

        answer, sent, most = _raw_upload_until_answered(server.port, request, 10 << 10, 1 << 20, stored)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 64 << 20  # refused after a few MiB of the 10 GiB
        assert most <= (2 << 20) + (1 << 20)  # the limit, plus at most one chunk in flight
        announced = "POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        answer, _, _ = _raw_upload_until_answered(
            server.port, announced + "Content-Length: 10000000000\r\n\r\n", chunks=0, chunk_bytes=1
        )
        assert answer.startswith(b"HTTP/1.1 413") and b"10000000000 bytes" in answer
    finally:
        server.stop()


def test_a_client_over_its_in_flight_limit_gets_429_and_others_are_served(tmp_path_factory, default_model, clips):
    from serving.auth import new_token

    tokens = {name: new_token("read", name) for name in ("client-a", "client-b")}
    tokens_file = tmp_path_factory.mktemp("limit") / "tokens"
    tokens_file.write_text("".join(line + "\n" for _, line in tokens.values()))
    server = start(
        tmp_path_factory,
        default_model,
        DEEPHASH_MAX_IN_FLIGHT_PER_CLIENT="2",
        DEEPHASH_AUTH="tokens",
        DEEPHASH_TOKENS_FILE=str(tokens_file),
    )
    video = clips["bigbuckbunny"].read_bytes()  # about half a second of decoding per upload

    def upload(name: str) -> httpx.Response:
        files = {"video": ("v.mp4", video, "video/mp4")}
        headers = {"authorization": f"Bearer {tokens[name][0]}"}
        return httpx.post(f"{server.url}/hash", files=files, headers=headers, timeout=120)

    try:
        with ThreadPoolExecutor(8) as pool:
            flood = [pool.submit(upload, "client-a") for _ in range(6)]
            time.sleep(0.2)
            other = pool.submit(upload, "client-b")
            answers = [future.result() for future in flood]
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses.count(429) >= 1 and statuses.count(200) >= 2 and set(statuses) == {200, 429}, statuses
        assert all(answer.headers["retry-after"] == "1" for answer in answers if answer.status_code == 429)
        assert other.result().status_code == 200
        assert httpx.get(f"{server.url}/livez").status_code == 200
    finally:
        server.stop()


def test_made_up_tokens_do_not_make_a_caller_many_clients(tmp_path):
    from serving.auth import TokenFile, new_token
    from serving.client_limit import ClientLimit

    token, line = new_token("read", "known")
    (tmp_path / "tokens").write_text(line + "\n")
    limit = ClientLimit(None, 2, TokenFile(tmp_path / "tokens"))

    def client(authorization: str) -> str:
        return limit._client({"headers": [(b"authorization", authorization.encode())], "client": ("10.0.0.7", 1)})

    assert client("Bearer made-up-1") == client("Bearer made-up-2") == "address:10.0.0.7"
    assert client(f"Bearer {token}").startswith("token:")


def test_more_than_one_worker_is_refused_before_any_starts(tmp_path, default_model):
    env = {
        **os.environ,
        "DEEPHASH_MODEL": str(default_model),
        "DEEPHASH_DATA": str(tmp_path / "data"),
        "DEEPHASH_AUTH": "open",
        "BENTOML_CONFIG_OPTIONS": "services.DeepHashService.workers=2",
    }
    command = [sys.executable, "-m", "bentoml", "serve", "serving.service:DeepHashService", "--port", str(free_port())]
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert "runs one worker, not 2" in finished.stderr + finished.stdout


def test_killing_the_server_process_takes_its_workers_and_frees_the_port(tmp_path_factory, default_model):
    import psutil

    server = start(tmp_path_factory, default_model)
    workers = psutil.Process(server.process.pid).children(recursive=True)
    assert workers, "bentoml serve started no worker processes"
    server.process.kill()  # SIGKILL: the server gets no chance to stop its workers itself
    server.process.wait()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, [worker.cmdline() for worker in alive]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/livez", timeout=5)


def test_backups_taken_while_videos_are_added_verify_and_hold_one_generation(tmp_path_factory, default_model, clips):
    server = start(tmp_path_factory, default_model)
    try:
        with ThreadPoolExecutor(4) as pool:
            adds = [
                pool.submit(server.upload, "add", clips[name], video_id=f"{name}-{copy}")
                for copy in range(3)
                for name in ("bikes", "carphone_pristine")
            ]
            time.sleep(0.5)
            backups = [server.call("backup") for _ in range(2)]
            assert all(add.result().status_code == 200 for add in adds)
        final = server.call("stats").json()["video"]["rows"]
    finally:
        server.stop()
    for answer in backups:
        assert answer.status_code == 200, answer.text
        copied = answer.json()["video"]
        with Library.open(Path(copied["folder"])) as backup:
            assert backup.verify() == [] and len(backup) == copied["rows"] <= final == 6


def test_sigterm_lets_requests_in_flight_finish(tmp_path_factory, default_model, clips):
    server = start(tmp_path_factory, default_model)
    try:
        with ThreadPoolExecutor(3) as pool:
            uploads = [pool.submit(server.upload, "hash", clips["bigbuckbunny"]) for _ in range(3)]
            time.sleep(0.3)  # the uploads are being decoded
            server.process.terminate()
            answers = [upload.result() for upload in uploads]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        expected = EmbeddedHasher(default_model).hash_video(clips["bigbuckbunny"]).code_hex
        assert {answer.json()["code"] for answer in answers} == {expected}
        assert server.process.wait(timeout=60) is not None
    finally:
        server.stop()
