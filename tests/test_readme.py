"""CI runs exactly the README's two commands."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_ci_runs_the_readme_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)
    setup, test = blocks[0].strip(), blocks[1].strip()
    lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert setup in lines and test in lines
    assert lines.index(setup) < lines.index(test)
