"""Every verb explains itself, and errors become exit codes with one-line messages."""

from __future__ import annotations

import argparse
import json

import pytest

from deephash.cli.common import CommandError
from deephash.cli.main import build_parser, main
from deephash.errors import ModelError
from deephash.model.artifacts import model_version

VERB_NAMES = {"hash", "make-dataset", "train-instance", "train", "mask", "evaluate", "index", "autolabel", "bulk-hash"}
VERB_NAMES |= {"export", "build-default", "install-default", "triton", "token", "search-cluster"}  # export/, serving/


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    subparsers = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_every_verb_is_registered_once():
    assert set(_verb_parsers()) == VERB_NAMES


@pytest.mark.parametrize("verb", sorted(VERB_NAMES))
def test_every_verb_explains_itself_and_each_of_its_options(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: deephash {verb}" in capsys.readouterr().out
    parsers = [_verb_parsers()[verb]]
    while parsers:  # the verb and its actions (export onnx, index search, ...)
        parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += action.choices.values()
            elif action.option_strings and action.dest != "help":
                assert action.help, f"deephash {verb}: {action.option_strings[0]} has no help"


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["hash", "video.mp4", "--model", str(tmp_path / "nothing")]) == 4
    assert "no model at" in capsys.readouterr().err


def test_mask_needs_exactly_one_mode(tmp_path, capsys):
    assert main(["mask", "--model", str(tmp_path)]) == 2
    assert "exactly one" in capsys.readouterr().err


@pytest.mark.slow  # a dataset made, a model trained, masked and evaluated: about a minute
def test_make_dataset_train_mask_evaluate_chain(tmp_path, capsys):
    """The verbs compose: a tiny dataset, a small model, its mask, its evaluation."""
    data, model = tmp_path / "data", tmp_path / "model"
    assert (
        main(
            [
                "make-dataset",
                str(data),
                "--train-per-class",
                "2",
                "--val-per-class",
                "2",
                "--query-per-class",
                "1",
                "--database-per-class",
                "1",
                "--frames",
                "10",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                str(data),
                "--out",
                str(model),
                "--backbone",
                "efficientnet_lite0",
                "--epochs",
                "3",
                "--bits",
                "64",
                "--augment-views",
                "1",
                "--trust-from",
                "0.3",
                "--trust-full",
                "0.6",
            ]
        )
        == 0
    )
    config = json.loads((model / "config.json").read_text())
    assert (config["trust_from"], config["trust_full"]) == (0.3, 0.6)
    bad = ["train", str(data), "--out", str(tmp_path / "bad"), "--trust-from", "0.8", "--trust-full", "0.5"]
    assert main(bad) == ModelError.exit_code
    assert "trust_from < trust_full" in capsys.readouterr().err
    assert main(["mask", "--model", str(model), "--tune", "--dataset", str(data)]) == 0
    assert main(["export", "onnx", "--model", str(model)]) == 0
    assert main(["evaluate", str(data), "--model", str(model), "--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "mAP" in out and "near-duplicate" in out
    assert (tmp_path / "plots" / "precision_recall.png").is_file()
    assert main(["evaluate", str(data), "--model", str(model), "--record"]) == CommandError.exit_code == 2
    assert "give both" in capsys.readouterr().err
    assert main(["hash", str(next((data / "videos" / "query").glob("*.mp4"))), "--model", str(model)]) == 0

    retrained = tmp_path / "retrained"
    assert main(["train", str(data), "--out", str(retrained), "--init-from", str(model), "--epochs", "1"]) == 0
    table = capsys.readouterr().out
    assert "previous" in table and "map_masked" in table and "near_duplicate_recall_at_1" in table
    metadata = json.loads((retrained / "metadata.json").read_text())
    assert metadata["compared_with"]["model_version"] == model_version(model)
    assert metadata["training"]["options"]["init_from"] == str(model)
    assert json.loads((retrained / "config.json").read_text())["l1_bits"] == 32  # the previous model's 64 bits
