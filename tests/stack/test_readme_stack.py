"""README's second quickstart block, run as written (fewer sizes, a faster clock).

In a module of its own: the example stack's module keeps its local S3 running
for its tests, and one process runs one local S3 at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lstream_cli.cli import run as cli_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _readme_command() -> list[str]:
    """The README's one command for the example stack, as a list of arguments."""
    import re
    import shlex

    readme = (EXAMPLES.parent / "README.md").read_text()
    match = re.search(r"^(lstream compare-modes --template .*?)\n(?!  )", readme, re.M | re.S)
    assert match is not None
    return shlex.split(match.group(1).replace("\\\n", " "))[1:]


def test_the_readme_command_tells_the_seeds_story(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime_client: Path
) -> None:
    """README's second quickstart block, on fewer sizes and a faster clock: no credentials needed."""
    args = _readme_command()
    assert args[:3] == ["compare-modes", "--template", "examples/template.yaml"]
    args[2] = str(EXAMPLES / "template.yaml")
    result = tmp_path / "story.json"
    log = tmp_path / "functions.log"
    extra = ["--sizes", "1MB,7MB,12MB", "--time-scale", "20", "--json", str(result)]
    code = cli_run([*args, *extra, "--function-log", str(log)])
    screen = capsys.readouterr()
    assert code == 0, screen.err
    doc = json.loads(result.read_text())
    rows = {(r["mode"], r["size"]): r for r in doc["rows"]}
    assert set(rows) == {
        (m, s)
        for m in ("stream", "buffered", "apigw", "apigw_stream")
        for s in (1_000_000, 7_000_000, 12_000_000)
    }
    for size in (1_000_000, 7_000_000, 12_000_000):
        # Streaming, directly (signed) and through the API (which adds the secret header).
        for mode in ("stream", "apigw_stream"):
            assert rows[(mode, size)]["ok"] and rows[(mode, size)]["bytes"] == size, json.dumps(
                rows[(mode, size)]
            )
    assert rows[("buffered", 1_000_000)]["ok"]
    for size in (7_000_000, 12_000_000):
        cell = rows[("buffered", size)]
        assert not cell["ok"] and cell["status"] == 502
        assert cell["limit"] == "buffered response limit 6,291,556 B"
    # API Gateway BUFFERED (BufferedApi, adding the secret header too): its 10 MB limit.
    for size in (1_000_000, 7_000_000):
        assert rows[("apigw", size)]["ok"] and rows[("apigw", size)]["bytes"] == size
    cell = rows[("apigw", 12_000_000)]
    assert not cell["ok"] and cell["status"] == 502
    assert cell["limit"] == "API Gateway 10 MB"
    conclusion = doc["conclusion"]
    assert "At 12 MB API Gateway (buffered) fails (API Gateway 10 MB)." in conclusion
    assert "Only the streaming function URL and API Gateway STREAM carry 12 MB." in conclusion
    assert "START RequestId:" in log.read_text()
    secret = next(a.split("=", 1)[1] for a in args if a.startswith("OriginSecretValue="))
    assert secret not in screen.out + screen.err + result.read_text() + log.read_text()


def test_apigw_output_takes_the_mode_of_the_api_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime_client: Path
) -> None:
    """--apigw-output BufferedApiUrl replaces the buffered pick; the STREAM API stays swept."""
    result = tmp_path / "named.json"
    args = [
        "compare-modes",
        "--template",
        str(EXAMPLES / "template.yaml"),
        "--parameter-overrides",
        "BucketName=lstream-example",
        "OriginSecretValue=local-secret-value-0001",
        "--apigw-output",
        "BufferedApiUrl",
        "--sizes",
        "12MB",
        "--time-scale",
        "20",
        "--json",
        str(result),
    ]
    code = cli_run(args)
    screen = capsys.readouterr()
    assert code == 0, screen.err
    doc = json.loads(result.read_text())
    assert doc["targets"]["apigw"] != doc["targets"]["apigw_stream"]
    rows = {r["mode"]: r for r in doc["rows"]}
    assert set(rows) == {"stream", "buffered", "apigw", "apigw_stream"}
    assert rows["apigw"]["status"] == 502 and rows["apigw"]["limit"] == "API Gateway 10 MB"
    assert rows["apigw_stream"]["ok"] and rows["apigw_stream"]["bytes"] == 12_000_000
