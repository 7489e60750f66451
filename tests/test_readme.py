"""The README says what the program does: exit codes, commands and the compare-modes screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lstream_cli._exitcodes import EXIT_CODE_HELP, ExitStatus

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _readme_exit_codes() -> dict[int, str]:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M)
    return {int(code): meaning.replace("`", "") for code, meaning in rows}


def _help_exit_codes() -> dict[int, str]:
    rows = re.findall(r"^  (\d+) +(.+)$", EXIT_CODE_HELP, flags=re.M)
    return {int(code): meaning for code, meaning in rows}


def test_readme_exit_code_table_is_the_help_table() -> None:
    readme = _readme_exit_codes()
    assert readme == _help_exit_codes()
    assert sorted(readme) == sorted(int(s) for s in ExitStatus)


def test_readme_compare_modes_screen_has_the_current_layout() -> None:
    """The captured table: one block per size, blank lines between, current columns."""
    from lstream_cli.compare import Cell
    from tests.test_compare import _render, cell

    block = README.split("```\n  size  mode", 1)[1].split("```", 1)[0]
    lines = ("  size  mode" + block).splitlines()
    cells: list[Cell] = [cell(m, s) for s in (1_000_000, 5_000_000) for m in ("stream", "buffered")]
    from lstream_cli.render.compare import format_table

    rendered = [line.rstrip() for line in _render(format_table(cells)).splitlines()]
    header = next(line for line in rendered if "mode" in line)
    assert lines[0].split() == header.split()
    # A blank line before each size's first row (but the first), as the table prints it.
    size_rows = [i for i, line in enumerate(lines) if re.match(r"^ *\d+ MB  \w", line)]
    assert len(size_rows) == 5
    assert all(lines[i - 1] == "" for i in size_rows[1:])
    rendered_sizes = [i for i, line in enumerate(rendered) if re.match(r"^ *\d+ MB  \w", line)]
    assert all(rendered[i - 1].strip() == "" for i in rendered_sizes[1:])


@pytest.mark.parametrize("command", ["get", "bench", "serve", "compare-modes"])
def test_readme_shows_each_command_with_a_heading_and_an_example(command: str) -> None:
    assert f"### `lstream {command}" in README
    assert re.search(rf"^lstream {command}\b", README, flags=re.M)
