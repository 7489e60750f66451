"""Result files: written whole, with the mode any other new file would get."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from lstream_cli.render.jsonout import write_json


def test_result_file_mode_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        target = tmp_path / "r.json"
        write_json(str(target), {"a": 1})
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.umask(0o077)
        private = tmp_path / "p.json"
        write_json(str(private), {"a": 2})
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
