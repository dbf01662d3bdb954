"""The README's usage example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    assert len(blocks[0].strip().splitlines()) <= 12
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    result, batch = namespace["result"], namespace["batch"]
    assert result.shape == (3, 64, 64)
    assert 0.0 <= float(result.min()) and float(result.max()) <= 1.0
    known = batch["mask"][0].bool().expand(3, -1, -1)
    assert (result[known] == batch["image"][0][known]).all()


def test_readme_names_the_two_commands_first():
    head = README.read_text().split("## ")[0]
    assert "make demo" in head and "make test" in head
