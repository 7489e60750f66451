"""A REST API whose HTTP_PROXY integration is any http URL (a parameter), BUFFERED.

The backend is the embedded emulator's streaming function URL, which
answers 403 without the header the API's static RequestParameter adds; the
API's own limits apply: 10 MB buffered, the method's TimeoutInMillis.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lstream_cli.emulator import EmulatorConfig, running_emulator
from lstream_cli.stack.run import StackOptions, running_stack
from lstream_cli.stack.template import load_stack

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Backend:
    Type: String
Resources:
  Front:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: front
  Any:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Front
      ParentId: !GetAtt Front.RootResourceId
      PathPart: "{proxy+}"
  AnyMethod:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Front
      ResourceId: !Ref Any
      HttpMethod: GET
      AuthorizationType: NONE
      RequestParameters:
        method.request.path.proxy: true
      Integration:
        Type: HTTP_PROXY
        IntegrationHttpMethod: GET
        Uri: !Sub "${Backend}{proxy}"
        TimeoutInMillis: 500
        RequestParameters:
          integration.request.path.proxy: method.request.path.proxy
          integration.request.header.x-added: "'static value'"
  V1:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Front
      StageName: v1
      DeploymentId: !Ref Deployment
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: AnyMethod
    Properties:
      RestApiId: !Ref Front
Outputs:
  Url:
    Value: !Join ["", ["https://", !Ref Front, ".execute-api.", !Ref "AWS::Region", ".amazonaws.com/v1/"]]
"""


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = EmulatorConfig(secret_header=("x-added", "static value"), throttle=False)
    with running_emulator(backend) as ep:
        path = tmp_path_factory.mktemp("api") / "api.yaml"
        path.write_text(TEMPLATE)
        stack = load_stack(path, {"Backend": ep.stream + "/"})
        with running_stack(stack, StackOptions(throttle=False)) as run:
            assert run.endpoints is not None
            yield run.endpoints.outputs["Url"]


def test_the_static_header_reaches_any_http_backend(api_url: str) -> None:
    assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/v1/")
    r = httpx.get(api_url + "some/path?size=1000", timeout=30)
    assert r.status_code == 200 and len(r.content) == 1000


def test_buffered_transfer_mode_limits(api_url: str) -> None:
    big = httpx.get(api_url + "x?size=12MB", timeout=30)
    assert big.status_code == 502
    assert big.json() == {"message": "Internal server error"}
    slow = httpx.get(api_url + "x?size=10&delay_ms=1500", timeout=30)
    assert slow.status_code == 504  # past the method's TimeoutInMillis (500 ms)
    assert slow.json() == {"message": "Endpoint request timed out"}


def test_what_no_method_matches(api_url: str) -> None:
    for url in (api_url, api_url.replace("/v1/", "/v2/x")):  # / has no GET method here
        r = httpx.get(url, timeout=30)
        assert r.status_code == 403
        assert r.json() == {"message": "Missing Authentication Token"}
    post = httpx.post(api_url + "x", content=b"{}", timeout=30)
    assert post.status_code == 403
