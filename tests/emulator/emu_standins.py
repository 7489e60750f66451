"""Test-only stand-ins for the event-stream encoder and SigV4 verifier modules.

Used only while ``lstream_cli.emulator.eventstream`` / ``sigv4`` are not in
the tree; the conftest installs them under those names so the emulator's
lazy imports find them. They follow the agreed interfaces, nothing more.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import struct
import types
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

__all__ = ["eventstream_module", "sigv4_module"]


def _message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    raw = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        raw += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(raw) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + raw + payload
    return body + struct.pack(">I", binascii.crc32(body))


def eventstream_module() -> types.ModuleType:
    mod = types.ModuleType("lstream_cli.emulator.eventstream")

    def payload_chunk(data: bytes) -> bytes:
        return _message(
            [
                (":event-type", "PayloadChunk"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            data,
        )

    def invoke_complete(
        error_code: str | None = None,
        error_details: str | None = None,
        log_result: str | None = None,
    ) -> bytes:
        body = {
            k: v
            for k, v in (
                ("ErrorCode", error_code),
                ("ErrorDetails", error_details),
                ("LogResult", log_result),
            )
            if v is not None
        }
        return _message(
            [
                (":event-type", "InvokeComplete"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            json.dumps(body).encode(),
        )

    mod.payload_chunk = payload_chunk  # type: ignore[attr-defined]
    mod.invoke_complete = invoke_complete  # type: ignore[attr-defined]
    return mod


@dataclass(frozen=True)
class _Result:
    ok: bool
    reason: str
    access_key: str | None = None


def _q(text: str) -> str:
    return quote(text, safe="-_.~")


def sigv4_module() -> types.ModuleType:
    mod = types.ModuleType("lstream_cli.emulator.sigv4")

    def verify_request(
        method: str,
        raw_target: str,
        headers: list[tuple[str, str]],
        body_sha256: str,
        lookup_secret: Any,
        now: Any = None,
        service: str = "lambda",
    ) -> _Result:
        h: dict[str, str] = {}
        for k, v in headers:
            h[k.lower()] = f"{h[k.lower()]},{v.strip()}" if k.lower() in h else v.strip()
        auth = h.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return _Result(False, "no signature")
        fields = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
        key, date, region, svc, _ = fields["Credential"].split("/")
        found = lookup_secret(key)
        if found is None:
            return _Result(False, "unknown key")
        secret, token = found
        if token is not None and h.get("x-amz-security-token") != token:
            return _Result(False, "bad token", key)
        amz_date = h.get("x-amz-date", "")
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        if abs((datetime.now(timezone.utc) - when).total_seconds()) > 300:
            return _Result(False, "skew", key)
        if "x-amz-content-sha256" in h and h["x-amz-content-sha256"] != body_sha256:
            return _Result(False, "body hash", key)
        path, _, query = raw_target.partition("?")
        pairs = sorted((_q(k), _q(v)) for k, v in parse_qsl(query, keep_blank_values=True))
        signed = fields["SignedHeaders"].split(";")
        canonical = "\n".join(
            [
                method,
                _q(path).replace("%2F", "/"),
                "&".join(f"{k}={v}" for k, v in pairs),
                "".join(f"{n}:{' '.join(h.get(n, '').split())}\n" for n in signed),
                ";".join(signed),
                h.get("x-amz-content-sha256", body_sha256),
            ]
        )
        scope = f"{date}/{region}/{svc}/aws4_request"
        sts = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = ("AWS4" + secret).encode()
        for part in (date, region, svc, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, fields["Signature"]):
            return _Result(False, "signature does not match", key)
        return _Result(True, "ok", key)

    def emulator_credentials(profile: str | None = None) -> Any:
        return None

    mod.verify_request = verify_request  # type: ignore[attr-defined]
    mod.emulator_credentials = emulator_credentials  # type: ignore[attr-defined]
    return mod
