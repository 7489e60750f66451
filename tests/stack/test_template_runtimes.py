"""A ``provided.*`` function from a template, and the extras missing: clear one-line errors."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import httpx
import pytest

from lstream_cli.cli import run as cli_run
from lstream_cli.stack.run import StackOptions, running_stack
from lstream_cli.stack.template import load_stack

# tests/emulator's modules import each other as top-level modules (it has no __init__.py).
sys.path.insert(0, str(Path(__file__).parents[1] / "emulator"))
from test_bootstrap_runtime import BOOTSTRAP

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: my.handler
      CodeUri: custom/
      MemorySize: 512
      ReservedConcurrentExecutions: 2
      Environment:
        Variables:
          FROM_FILE: from-the-template
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: BUFFERED
Outputs:
  Url:
    Value: !GetAtt CustomUrl.FunctionUrl
"""


def _write(root: Path, bootstrap: bool = True) -> Path:
    (root / "custom").mkdir(parents=True)
    if bootstrap:
        script = root / "custom" / "bootstrap"
        script.write_text(BOOTSTRAP.replace("PYTHON", sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    path = root / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def test_a_custom_runtime_from_a_sam_template(tmp_path: Path) -> None:
    stack = load_stack(_write(tmp_path))
    (fn,) = stack.functions
    assert (fn.runtime, fn.reserved_concurrency, fn.memory_mb) == ("provided.al2023", 2, 512)
    with running_stack(stack, StackOptions(throttle=False)) as run:
        assert run.endpoints is not None
        url = run.endpoints.outputs["Url"]
        doc = httpx.get(url + "?case=echo", timeout=60).json()
    assert doc["handler"] == "my.handler"
    assert doc["memory"] == "512"
    assert doc["from_file"] == "from-the-template"
    assert doc["task_root"] == str(tmp_path / "custom")


def test_a_provided_runtime_without_its_bootstrap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, bootstrap=False)
    assert cli_run(["serve", "--template", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"lstream: error: template.yaml: Custom: Runtime provided.al2023: "
        f"no executable 'bootstrap' in {tmp_path / 'custom'}"
    )


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("samtranslator.yaml_helper", [], "pip install 'lstream[template]'"),
        (
            "moto.server",
            ["--s3", "{s3}"],
            "the local S3 (--s3) needs moto's server: pip install 'lstream[s3]'",
        ),
    ],
)
def test_a_missing_extra_names_its_install(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    args: list[str],
    message: str,
) -> None:
    path = _write(tmp_path)
    (tmp_path / "s3").mkdir()
    monkeypatch.setitem(sys.modules, module, None)  # importing it now fails, as when absent
    code = cli_run(
        ["serve", "--template", str(path), *(a.format(s3=tmp_path / "s3") for a in args)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lstream: error: ")
    assert message in err
