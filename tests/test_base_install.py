"""The command line runs where the service runs: the bento's container has the base install only (no torch,
onnx, matplotlib or scikit-image), and hashing, the library verbs and tokens must work there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# the deephash command with the training extras made unimportable, as in a container built from bentofile.yaml
BASE_INSTALL = """
import sys
BLOCKED = {"torch", "onnx", "matplotlib", "skimage", "skvideo"}

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Absent())
from deephash.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def deephash(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", BASE_INSTALL, *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_base_install_lists_every_verb_and_names_the_extra_a_verb_needs():
    listed = deephash("--help")
    assert listed.returncode == 0, listed.stderr
    assert "hash" in listed.stdout and "index" in listed.stdout and "needs torch" in listed.stdout
    refused = deephash("train", "dataset", "--out", "model")
    assert refused.returncode == 2
    expected = "deephash train: needs torch, which this install lacks: pip install 'deephash[train]'"
    assert refused.stderr.strip() == expected


def test_hash_the_library_verbs_and_token_run_without_the_training_extras(small_model, clips, tmp_path):
    clip = clips["bikes"]
    hashed = deephash("hash", clip, "--model", small_model, "--json")
    assert hashed.returncode == 0, hashed.stderr
    code = json.loads(hashed.stdout.splitlines()[0])["code"]

    library = tmp_path / "library"
    for args in (("create", library), ("add", library, clip)):
        done = deephash("index", *args, "--model", small_model)
        assert done.returncode == 0, done.stderr
    stats = deephash("index", "stats", library)
    assert stats.returncode == 0 and json.loads(stats.stdout)["rows"] == 1, stats.stderr
    verified = deephash("index", "verify", library)
    assert verified.returncode == 0 and verified.stdout.strip() == "ok", verified.stderr
    found = deephash("index", "search", library, "--video", clip, "--model", small_model, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[0])["video_id"] == clip.stem
    assert deephash("index", "search", library, "--id", clip.stem, "--model", small_model).returncode == 0
    stored = deephash("index", "search", library, "--code", code, "--l1", "0", "--l2", "0", "--no-mask", "--all-groups")
    assert stored.returncode == 0 and f"0  {clip.stem}" in stored.stdout, stored.stderr

    granted = deephash("token", "--role", "read", "--file", tmp_path / "tokens.txt")
    assert granted.returncode == 0 and "token: " in granted.stdout, granted.stderr


@pytest.mark.parametrize("k", ["0", "100000"])
def test_a_bad_k_is_one_line_and_exit_2(tmp_path, k):
    library = tmp_path / "library"
    assert deephash("index", "create", library, "--bits", "128", "--model-version", "v").returncode == 0
    answer = deephash("index", "search", library, "--code", "0" * 32, "--l1", "0", "--l2", "0", "-k", k)
    assert answer.returncode == 2
    assert answer.stderr.startswith("deephash index: -k: ") and len(answer.stderr.strip().splitlines()) == 1
