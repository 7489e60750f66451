"""A REST API's routing, as API Gateway does it for ``HTTP_PROXY`` methods.

:func:`match` picks the method for a request (``/STAGE/path``): literal path
parts before ``{param}`` ones, ``{name+}`` taking the rest of the path,
``ANY`` standing for every method. :func:`integration_target` then builds
what the integration sends: the ``Uri`` with its ``{name}`` placeholders
filled from the mapped path parameters, the caller's query string, and the
headers with the static values added (a static value replaces a header of
the same name the caller sent, so a caller cannot forge it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lstream_cli.stack.model import RestApiSpec, RouteSpec

__all__ = ["Match", "integration_target", "match"]


@dataclass(frozen=True, slots=True)
class Match:
    route: RouteSpec
    stage: str
    path_params: dict[str, str]


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def _score(route: RouteSpec) -> tuple[int, ...]:
    # Most specific first: literal parts, then {param}, then {proxy+}; exact method before ANY.
    parts = _segments(route.path)
    kinds = tuple(2 if not p.startswith("{") else (0 if p.endswith("+}") else 1) for p in parts)
    return (*kinds, 9, 1 if route.http_method != "ANY" else 0)


def _bind(route_path: str, request_parts: Sequence[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    parts = _segments(route_path)
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = request_parts[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(unquote(p) for p in rest)
            return params
        if index >= len(request_parts):
            return None
        given = request_parts[index]
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = unquote(given)
        elif part != given:
            return None
    return params if len(parts) == len(request_parts) else None


def match(api: RestApiSpec, method: str, raw_path: str) -> Match | None:
    """The route for ``method raw_path`` (``/STAGE/...``), or None (API Gateway's 403)."""
    parts = _segments(raw_path)
    if not parts or parts[0] not in api.stages:
        return None
    stage, rest = parts[0], parts[1:]
    for route in sorted(api.routes, key=_score, reverse=True):
        if route.http_method not in ("ANY", method.upper()):
            continue
        params = _bind(route.path, rest)
        if params is not None:
            return Match(route, stage, params)
    return None


def integration_target(
    found: Match,
    method: str,
    query: str,
    headers: Sequence[tuple[str, str]],
) -> tuple[str, str, list[tuple[str, str]]]:
    """``(method, url, headers)`` the integration sends for a matched request."""
    route = found.route
    path_values: dict[str, str] = {}
    query_values: list[tuple[str, str]] = []
    mapped_headers: list[tuple[str, str]] = []
    lower = {k.lower(): v for k, v in headers}
    for target, source in route.mapped:
        t_loc, _, t_name = target.partition(".")
        s_loc, _, s_name = source.partition(".")
        if s_loc == "path":
            value = found.path_params.get(s_name)
        elif s_loc == "header":
            value = lower.get(s_name.lower())
        else:
            value = None
            for pair in query.split("&"):
                key, _, val = pair.partition("=")
                if unquote(key) == s_name:
                    value = unquote(val)
                    break
        if value is None:
            continue
        if t_loc == "path":
            path_values[t_name] = value
        elif t_loc == "querystring":
            query_values.append((t_name, value))
        else:
            mapped_headers.append((t_name, value))

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        # {proxy} carries its slashes through, each part kept as sent.
        return quote(path_values.get(name, ""), safe="/")

    url = re.sub(r"\{([^}/]+)\}", fill, route.uri)
    extra = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query_values)
    full_query = "&".join(q for q in (query, extra) if q)
    if full_query:
        url += ("&" if "?" in url else "?") + full_query
    replaced = {name.lower() for name, _ in route.static_headers}
    replaced |= {name.lower() for name, _ in mapped_headers}
    out = [(k, v) for k, v in headers if k.lower() not in replaced]
    out.extend(mapped_headers)
    out.extend(route.static_headers)
    send = method if route.integration_method == "ANY" else route.integration_method
    return send, url, out
