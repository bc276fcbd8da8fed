"""Hashing many videos at once: decoding in threads, the model on batches, order and errors kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deephash.audio import hash_audio
from deephash.bulk import hash_many
from deephash.cli.main import main
from deephash.hasher import EmbeddedHasher


@pytest.fixture(scope="module")
def hasher(default_model):
    return EmbeddedHasher(default_model)


@pytest.fixture
def inputs(clips, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips["bikes"].read_bytes()[:2000])
    return [clips["bikes"], broken, clips["carphone_pristine"], tmp_path / "absent.mp4", clips["bigbuckbunny"]]


@pytest.mark.parametrize(("workers", "batch"), [(1, 1), (2, 1), (3, 2), (2, 8)])
def test_results_keep_input_order_and_equal_one_at_a_time(hasher, inputs, workers, batch):
    one_at_a_time = {str(path): hasher.hash_video(path).code for path in inputs[::2]}
    outcomes = list(hash_many(hasher, inputs, workers=workers, batch=batch))
    assert [outcome.source for outcome in outcomes] == inputs
    for outcome in outcomes[::2]:
        assert outcome.error is None and np.array_equal(outcome.result.code, one_at_a_time[str(outcome.source)])
    assert "damaged or truncated" in outcomes[1].error
    assert "no such file" in outcomes[3].error
    assert outcomes[0].audio is None  # bikes has no sound track
    assert np.array_equal(outcomes[4].audio, hash_audio(inputs[4]))  # bigbuckbunny has one


def test_cli_reports_each_failure_and_hashes_the_rest(default_model, inputs, capsys):
    assert main(["hash", *map(str, inputs), "--model", str(default_model), "--json", "--workers", "2"]) == 3
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["video"] for line in lines] == list(map(str, inputs))
    assert [("error" in line) for line in lines] == [False, True, False, True, False]


def test_batch_must_be_positive(hasher):
    with pytest.raises(ValueError, match="batch"):
        list(hash_many(hasher, [], batch=0))
