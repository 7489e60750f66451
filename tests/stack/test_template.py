"""Templates into stacks: the SAM translator, parameters, intrinsics, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstream_cli._exitcodes import ExitStatus, UsageError
from lstream_cli.stack.template import TemplateError, load_stack, parse_overrides
from tests.stack.second_template import write_stack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "template.yaml"
SECRET = "example-secret-value-0123456789"
EXAMPLE_PARAMS = {"BucketName": "lstream-example", "OriginSecretValue": SECRET}


def test_example_stack_through_the_sam_translator() -> None:
    stack = load_stack(EXAMPLE, EXAMPLE_PARAMS)
    assert [f.logical_id for f in stack.functions] == [
        "StreamingFunction",
        "BufferedFunction",
        "EdgeFunction",
    ]
    handlers = {f.logical_id: f.handler for f in stack.functions}
    # The buffered twin is its own handler: it returns the object whole.
    assert handlers == {
        "StreamingFunction": "index.handler",
        "BufferedFunction": "index.bufferedHandler",
        "EdgeFunction": "index.handler",
    }
    for fn in stack.functions:
        assert fn.runtime == "nodejs24.x"
        assert fn.code_dir == EXAMPLES / "node"
        assert (fn.timeout_s, fn.memory_mb) == (900, 1024)
        assert fn.environment["BUCKET_NAME"] == "lstream-example"
        assert fn.environment["OBJECT_KEY"] == "sample-100MB.bin"
        # SAM's S3ReadPolicy becomes a role statement: the bucket the handler reads.
        assert fn.reads_buckets == ("lstream-example",)
    checking = {f.logical_id for f in stack.functions if "ORIGIN_SECRET_VALUE" in f.environment}
    assert checking == {"EdgeFunction"}
    assert stack.function("EdgeFunction").environment["ORIGIN_SECRET_VALUE"] == SECRET
    urls = {(u.logical_id, u.function, u.qualifier, u.auth_type, u.invoke_mode) for u in stack.urls}
    assert urls == {
        ("StreamingFunctionUrl", "StreamingFunction", None, "AWS_IAM", "RESPONSE_STREAM"),
        ("BufferedFunctionUrl", "BufferedFunction", None, "AWS_IAM", "BUFFERED"),
        # FunctionUrlConfig with AutoPublishAlias: the URL is on the alias.
        ("EdgeFunctionUrl", "EdgeFunction", "edge", "NONE", "RESPONSE_STREAM"),
    }
    apis = {a.logical_id: a for a in stack.apis}
    assert set(apis) == {"Api", "BufferedApi"}
    edge = "https://edgefunctionurl.lambda-url.us-east-1.on.aws/"
    for logical_id, name, mode, timeout_ms in (
        ("Api", "examples-stream", "STREAM", 900_000),
        ("BufferedApi", "examples-buffered", "BUFFERED", 29_000),
    ):
        api = apis[logical_id]
        assert api.stages == ("prod",) and api.name == name
        routes = {r.path: r for r in api.routes}
        assert set(routes) == {"/", "/{proxy+}"}
        assert routes["/"].uri == edge
        assert routes["/{proxy+}"].uri == edge + "{proxy}"
        assert routes["/{proxy+}"].mapped == (("path.proxy", "path.proxy"),)
        for route in routes.values():
            assert route.http_method == "ANY" and route.transfer_mode == mode
            assert route.timeout_ms == timeout_ms
            # The single quotes are API Gateway's syntax for a static value, not part of it.
            assert route.static_headers == (("x-origin-secret", SECRET),)
    outputs = {o.name: o.value for o in stack.outputs}
    assert outputs == {
        "StreamingUrl": "https://streamingfunctionurl.lambda-url.us-east-1.on.aws/",
        "BufferedUrl": "https://bufferedfunctionurl.lambda-url.us-east-1.on.aws/",
        "EdgeUrl": edge,
        "ApiUrl": "https://api.execute-api.us-east-1.amazonaws.com/prod/",
        "BufferedApiUrl": "https://bufferedapi.execute-api.us-east-1.amazonaws.com/prod/",
    }


def test_noecho_values_never_in_reprs_or_shown_parameters() -> None:
    stack = load_stack(EXAMPLE, EXAMPLE_PARAMS)
    assert SECRET not in repr(stack)
    assert stack.shown_parameters()["OriginSecretValue"] == "****"
    assert stack.shown_parameters()["BucketName"] == "lstream-example"
    assert stack.secret_parameters == frozenset({"OriginSecretValue"})


def test_second_stack_plain_cloudformation(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "demo")
    stack = load_stack(path, {"Mode": "stream", "Greeting": "hi"})
    (fn,) = stack.functions
    assert fn.name == "demo-pattern"  # Fn::Join of AWS::StackName (the folder's name)
    assert (fn.runtime, fn.handler, fn.timeout_s, fn.memory_mb) == (
        "nodejs20.x",
        "app.handler",
        30,
        256,
    )
    assert fn.code_dir == tmp_path / "demo" / "fn"
    assert fn.environment == {
        "GREETING": "hi from demo in us-east-1",
        "PARTITION": "aws",
        "SELF_URL": "https://patternurl.lambda-url.us-east-1.on.aws/",
    }
    assert fn.reads_buckets == ()
    # The Never condition drops the second URL; the override picks RESPONSE_STREAM.
    (url,) = stack.urls
    assert (url.logical_id, url.function, url.invoke_mode, url.auth_type) == (
        "PatternUrl",
        "PatternFunction",
        "RESPONSE_STREAM",
        "NONE",
    )
    outputs = {o.name: o.value for o in stack.outputs}
    base = "https://patternurl.lambda-url.us-east-1.on.aws/"
    assert outputs == {
        "PatternEndpoint": base + "?size=1000&from=demo",
        "PatternBase": base,
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:demo-pattern",
        "Mode": "streaming",
        "WithToken": base + "?token=not-shown-token-0001",
    }
    assert [o.name for o in stack.outputs if o.secret] == ["WithToken"]
    default = load_stack(path, stack_name="other", region="eu-west-1")
    assert default.urls[0].invoke_mode == "BUFFERED"
    assert default.functions[0].environment["GREETING"] == "hello from other in eu-west-1"
    assert {o.name: o.value for o in default.outputs}["Mode"] == "buffered"


def test_localize_maps_deployed_hosts_to_local_bases(tmp_path: Path) -> None:
    stack = load_stack(write_stack(tmp_path / "demo"))
    endpoint = {o.name: o.value for o in stack.outputs}["PatternEndpoint"]
    hosts = {"patternurl.lambda-url.us-east-1.on.aws": "http://127.0.0.1:9123"}
    assert stack.localize(endpoint, hosts) == "http://127.0.0.1:9123/?size=1000&from=demo"
    assert stack.localize("https://elsewhere.example/", hosts) == "https://elsewhere.example/"


def test_fn_sub_forms_and_escapes(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "demo")
    text = path.read_text().replace(
        "  Mode:\n    Value: !If [Streaming, streaming, buffered]\n",
        '  Mode:\n    Value: !Sub ["${X}-${!Literal}-${AWS::URLSuffix}", {X: !Ref Greeting}]\n',
    )
    path.write_text(text)
    stack = load_stack(path)
    assert {o.name: o.value for o in stack.outputs}["Mode"] == "hello-${Literal}-amazonaws.com"


def test_overrides_parse_both_forms() -> None:
    assert parse_overrides(["A=1", "B=x=y", "ParameterKey=C,ParameterValue=z,w"]) == {
        "A": "1",
        "B": "x=y",
        "C": "z,w",
    }
    with pytest.raises(UsageError, match="NAME=VALUE") as err:
        parse_overrides(["just-a-secret-value"])
    assert "just-a-secret-value" not in str(err.value)
    with pytest.raises(UsageError, match="letters and digits"):
        parse_overrides(["bad-name=1"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BucketName": "lstream-example"}, "parameter OriginSecretValue has no default"),
        ({**EXAMPLE_PARAMS, "Nope": "1"}, "the template has no parameter Nope"),
        (
            {**EXAMPLE_PARAMS, "BucketName": "Bad_Bucket"},
            "'Bad_Bucket' does not match its AllowedPattern",
        ),
        (
            {**EXAMPLE_PARAMS, "OriginSecretValue": "short-secret"},
            "its value is shorter than its MinLength 16",
        ),
        (
            {**EXAMPLE_PARAMS, "OriginSecretValue": "has spaces, 16 chars+"},
            "its value does not match",
        ),
    ],
)
def test_parameter_errors_exit_2_and_hide_noecho(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        load_stack(EXAMPLE, overrides)
    assert message in str(err.value)
    assert err.value.exit_status == ExitStatus.USAGE
    for value in ("short-secret", "has spaces", SECRET):
        assert value not in str(err.value)


def _example_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new))
    (tmp_path / "node").mkdir(exist_ok=True)
    return path


def test_static_header_value_without_single_quotes_is_refused(tmp_path: Path) -> None:
    path = _example_with(tmp_path, "!Sub \"'${OriginSecretValue}'\"", "!Ref OriginSecretValue")
    with pytest.raises(TemplateError) as err:
        load_stack(path, EXAMPLE_PARAMS)
    text = str(err.value)
    assert text.startswith(
        "template.yaml: RootMethod: "
        "Integration.RequestParameters.integration.request.header.x-origin-secret: "
    )
    assert "single quotes" in text and SECRET not in text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "Runtime: nodejs24.x",
            "Runtime: python3.12",
            "StreamingFunction: Runtime: python3.12 is not run locally",
        ),
        (
            "CodeUri: node/",
            "CodeUri: missing/",
            "StreamingFunction: CodeUri: missing/ is not a folder beside the template",
        ),
        (
            "Type: HTTP_PROXY",
            "Type: AWS_PROXY",
            "RootMethod: Integration.Type: AWS_PROXY is not run locally",
        ),
        (
            "        OBJECT_KEY: !Ref ObjectKey\n",
            "        OBJECT_KEY: !Ref ObjectKey\n        TABLE: !GetAtt Table.Arn\n",
            "StreamingFunction: Environment: no resource or parameter named 'Table'",
        ),
        (
            "        OBJECT_KEY: !Ref ObjectKey\n",
            "        OBJECT_KEY: !ImportValue shared-bucket\n",
            "StreamingFunction: Environment: Fn::ImportValue is not resolved locally",
        ),
        (
            "      AuthorizationType: NONE\n      RequestParameters:",
            "      AuthorizationType: AWS_IAM\n      RequestParameters:",
            "ProxyMethod: AuthorizationType: AWS_IAM is not run locally (NONE is)",
        ),
        (
            "ResponseTransferMode: STREAM",
            "ResponseTransferMode: CHUNKED",
            "'CHUNKED' is not STREAM or BUFFERED",
        ),
        (
            "TimeoutInMillis: 900000",
            "TimeoutInMillis: 1000000",
            "TimeoutInMillis: must be 50 to 900000",
        ),
    ],
)
def test_unresolvable_names_resource_and_property(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _example_with(tmp_path, old, new)
    with pytest.raises(TemplateError) as err:
        load_stack(path, EXAMPLE_PARAMS)
    assert message in str(err.value)
    assert err.value.exit_status == ExitStatus.USAGE


def test_unreadable_or_broken_templates(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_stack(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources: [unclosed\n")
    with pytest.raises(UsageError, match=r"bad.yaml is not valid YAML or JSON \(line"):
        load_stack(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("Description: nothing\n")
    with pytest.raises(UsageError, match="has no Resources section"):
        load_stack(empty)
    macro = tmp_path / "macro.yaml"
    macro.write_text("Transform: MyMacro\nResources: {}\n")
    with pytest.raises(TemplateError, match="Transform: MyMacro is not applied locally"):
        load_stack(macro)


def test_sam_translator_errors_are_one_line(tmp_path: Path) -> None:
    path = _example_with(
        tmp_path,
        "AuthType: AWS_IAM\n        InvokeMode: BUFFERED",
        "AuthType: SOMETIMES\n        InvokeMode: BUFFERED",
    )
    with pytest.raises(TemplateError) as err:
        load_stack(path, EXAMPLE_PARAMS)
    text = str(err.value)
    assert text.startswith("template.yaml: the SAM transform failed: ")
    assert "BufferedFunction" in text and "AuthType" in text and "\n" not in text


def test_json_templates_too(tmp_path: Path) -> None:
    import json

    import yaml

    from lstream_cli.stack.template import read_template

    source = write_stack(tmp_path / "demo")
    data = read_template(source)
    as_json = tmp_path / "demo" / "stack.json"
    as_json.write_text(json.dumps(data))
    assert yaml.safe_load(as_json.read_text()) == data
    stack = load_stack(as_json)
    assert stack.urls[0].logical_id == "PatternUrl"


def test_buckets_are_known_and_what_is_not_run_is_listed(tmp_path: Path) -> None:
    from lstream_cli.stack.run import local_storage

    path = _example_with(
        tmp_path,
        "Resources:\n",
        "Resources:\n"
        "  Uploads:\n    Type: AWS::S3::Bucket\n"
        '    Properties:\n      BucketName: !Sub "${AWS::StackName}-uploads"\n'
        "  Jobs:\n    Type: AWS::SQS::Queue\n",
    )
    stack = load_stack(path, EXAMPLE_PARAMS, stack_name="demo")
    assert stack.buckets == ("demo-uploads",)
    assert stack.not_run == (("Jobs", "AWS::SQS::Queue"),)
    with local_storage(stack, None, always=True) as s3:
        assert s3 is not None
        names = {b["Name"] for b in s3.client.list_buckets()["Buckets"]}
    assert names == {"demo-uploads", "lstream-example"}  # the template's, and the one read
