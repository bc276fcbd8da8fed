"""The README's Python example runs as written (it cannot rot)."""

from __future__ import annotations

import re

from tests.conftest import REPO


def readme_python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)
    assert blocks, "the README has no ```python block"
    return blocks[0]


def test_the_readme_python_example_runs(default_model, tmp_path, monkeypatch, capsys):
    """Executed in an empty working directory, with the default model found through DEEPHASH_MODEL (the example
    uses default_model_dir(), which is artifacts/default-model when run from the repository root)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPHASH_MODEL", str(default_model))
    exec(compile(readme_python_example(), "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert "Hit(video_id='carphone'" in printed  # the distorted carphone finds the pristine one
    assert (tmp_path / "my-library" / "manifest.json").is_file()
