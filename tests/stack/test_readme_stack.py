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


RIC_413 = "LAMBDA_RUNTIME Failed to post handler success response. Http response code: 413."


def _readme_block() -> tuple[list[str], str]:
    """The README's one command for the example stack, as a list of arguments, and the next line."""
    import re
    import shlex

    readme = (EXAMPLES.parent / "README.md").read_text()
    match = re.search(
        r"^(lstream compare-modes --template .*?)\n(?!  )(.*?)\n", readme, re.M | re.S
    )
    assert match is not None
    return shlex.split(match.group(1).replace("\\\n", " "))[1:], match.group(2)


def test_the_readme_command_tells_the_seeds_story(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime_client: Path
) -> None:
    """README's second quickstart block, on fewer sizes and a faster clock: no credentials needed."""
    args, next_line = _readme_block()
    assert args[:3] == ["compare-modes", "--template", "examples/template.yaml"]
    args[2] = str(EXAMPLES / "template.yaml")
    # The README's own log file, here in the test's folder; then it greps it.
    at = args.index("--function-log") + 1
    assert next_line == f"grep LAMBDA_RUNTIME {args[at]}"
    log = tmp_path / args[at]
    args[at] = str(log)
    result = tmp_path / "story.json"
    extra = ["--sizes", "1MB,5MB,12MB", "--time-scale", "20", "--json", str(result)]
    code = cli_run([*args, *extra])
    screen = capsys.readouterr()
    assert code == 0, screen.err
    doc = json.loads(result.read_text())
    rows = {(r["mode"], r["size"]): r for r in doc["rows"]}
    assert set(rows) == {
        (m, s)
        for m in ("stream", "buffered", "apigw", "apigw_stream")
        for s in (1_000_000, 5_000_000, 12_000_000)
    }
    for size in (1_000_000, 5_000_000, 12_000_000):
        # Streaming, directly (signed) and through the API (which adds the secret header).
        for mode in ("stream", "apigw_stream"):
            assert rows[(mode, size)]["ok"] and rows[(mode, size)]["bytes"] == size, json.dumps(
                rows[(mode, size)]
            )
    assert rows[("buffered", 1_000_000)]["ok"]
    # 5 MB asked, about 6.7 MB of base64 returned: the limit is named from the
    # URL's own x-amzn-ErrorType, not guessed from the size asked.
    for size in (5_000_000, 12_000_000):
        cell = rows[("buffered", size)]
        assert not cell["ok"] and cell["status"] == 502
        assert cell["limit"] == "buffered response limit 6,291,556 B"
    # API Gateway BUFFERED (BufferedApi, adding the secret header too): its 10 MB limit.
    for size in (1_000_000, 5_000_000):
        assert rows[("apigw", size)]["ok"] and rows[("apigw", size)]["bytes"] == size
    cell = rows[("apigw", 12_000_000)]
    assert not cell["ok"] and cell["status"] == 502
    assert cell["limit"] == "API Gateway 10 MB"
    conclusion = doc["conclusion"]
    assert "At 12 MB API Gateway (buffered) fails (API Gateway 10 MB)." in conclusion
    assert "Only the streaming function URL and API Gateway STREAM carry 12 MB." in conclusion
    assert "START RequestId:" in log.read_text()
    # The buffered twin returned each failed body whole: the runtime's own line, once per cell.
    grepped = [line for line in log.read_text().splitlines() if "LAMBDA_RUNTIME" in line]
    assert len(grepped) == 2 and all(line.endswith(f"] {RIC_413}") for line in grepped)
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
