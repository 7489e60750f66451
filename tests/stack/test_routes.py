"""REST API routing for HTTP_PROXY methods: stage, specificity, {proxy+}, static headers."""

from __future__ import annotations

from lstream_cli.stack.model import RestApiSpec, RouteSpec
from lstream_cli.stack.routes import integration_target, match

UP = "https://edge.lambda-url.us-east-1.on.aws/"
ROUTES = (
    RouteSpec("Root", "/", "ANY", "ANY", UP, (("x-origin-secret", "s3cret"),)),
    RouteSpec(
        "Proxy",
        "/{proxy+}",
        "ANY",
        "ANY",
        UP + "{proxy}",
        (("x-origin-secret", "s3cret"),),
        (("path.proxy", "path.proxy"),),
    ),
    RouteSpec(
        "Item",
        "/items/{id}",
        "GET",
        "POST",
        "http://127.0.0.1:1/i/{id}",
        (),
        (
            ("path.id", "path.id"),
            ("querystring.via", "header.x-via"),
            ("header.x-item", "path.id"),
        ),
    ),
)
API = RestApiSpec("Api", "api", "demo", ("prod",), ROUTES)


def test_stage_and_specificity() -> None:
    assert match(API, "GET", "/") is None  # no stage
    assert match(API, "GET", "/dev/x") is None  # unknown stage
    root = match(API, "DELETE", "/prod/")
    assert root is not None and root.route.logical_id == "Root" and root.stage == "prod"
    assert match(API, "GET", "/prod") is not None
    item = match(API, "GET", "/prod/items/42")
    assert item is not None and item.route.logical_id == "Item" and item.path_params == {"id": "42"}
    # Only GET is declared on /items/{id}: other methods fall to {proxy+}.
    other = match(API, "PUT", "/prod/items/42")
    assert other is not None and other.route.logical_id == "Proxy"
    assert other.path_params == {"proxy": "items/42"}


def test_proxy_uri_query_and_static_header_replaces_the_callers() -> None:
    found = match(API, "GET", "/prod/a/b%20c")
    assert found is not None
    method, url, headers = integration_target(
        found, "GET", "size=1MB&x=1", [("Accept", "*/*"), ("X-Origin-Secret", "forged")]
    )
    assert method == "GET"
    assert url == UP + "a/b%20c?size=1MB&x=1"
    assert headers == [("Accept", "*/*"), ("x-origin-secret", "s3cret")]


def test_mapped_parameters_and_a_fixed_integration_method() -> None:
    found = match(API, "GET", "/prod/items/7")
    assert found is not None
    method, url, headers = integration_target(found, "GET", "", [("x-via", "cli")])
    assert method == "POST"
    assert url == "http://127.0.0.1:1/i/7?via=cli"
    assert headers == [("x-via", "cli"), ("x-item", "7")]
