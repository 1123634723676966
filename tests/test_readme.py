"""README.md stays true: its parameter table and its first two commands."""

from __future__ import annotations

import re
from pathlib import Path

from chatroom.core.params import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_has_the_parameter_table_built_from_specs() -> None:
    text = README.read_text(encoding="utf-8")
    assert markdown_table() in text, "README's table differs: paste params.markdown_table() into it"


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:20])
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", head, flags=re.MULTILINE | re.DOTALL)
    assert blocks, "no fenced block in README's first 20 lines"
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert "./run.sh" in commands
    assert "./run.sh test" in commands
