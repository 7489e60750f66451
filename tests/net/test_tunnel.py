"""The CONNECT exchange, sans-IO: what is sent, how each answer is read."""

from __future__ import annotations

import base64

import pytest

from lstream_cli.models import ErrorClass
from lstream_cli.net.proxy import Proxy
from lstream_cli.net.tunnel import MAX_REPLY_BYTES, TunnelError, TunnelReply, connect_request

PROXY = Proxy("127.0.0.1", 3128, "HTTPS_PROXY")
WITH_CREDS = Proxy("127.0.0.1", 3128, "--proxy", "alice", "s3cret")


def test_connect_request_names_the_origin_in_authority_form() -> None:
    assert connect_request("example.com", 443, PROXY, "lstream/1") == (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
        b"User-Agent: lstream/1\r\n\r\n"
    )
    assert connect_request("::1", 8443, PROXY, "ua").startswith(
        b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
    )


def test_connect_request_carries_the_proxy_credentials() -> None:
    head = connect_request("h", 443, WITH_CREDS, "ua").decode()
    line = next(x for x in head.split("\r\n") if x.startswith("Proxy-Authorization: "))
    assert base64.b64decode(line.split("Basic ", 1)[1]) == b"alice:s3cret"


def _reply(*pieces: bytes, proxy: Proxy = PROXY) -> TunnelReply:
    reply = TunnelReply(proxy, "example.com:443")
    done = False
    for piece in pieces:
        assert not done, "fed after the head was complete"
        done = reply.feed(piece)
    assert done
    return reply


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",  # ignored for a 2xx to CONNECT
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",  # bare LF, as curl reads it
    ],
)
def test_a_2xx_opens_the_tunnel(answer: bytes) -> None:
    reply = _reply(answer)
    assert 200 <= reply.status < 300
    reply.check()


def test_the_answer_may_come_byte_by_byte() -> None:
    answer = b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\n"
    reply = TunnelReply(PROXY, "example.com:443")
    results = [reply.feed(answer[i : i + 1]) for i in range(len(answer))]
    assert results == [False] * (len(answer) - 1) + [True]
    assert reply.status == 200 and reply.reason == "Connection established"
    reply.check()


@pytest.mark.parametrize(
    ("answer", "proxy", "words"),
    [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            PROXY,
            "HTTP 407 Proxy Authentication Required (proxy authentication required: put credentials in the proxy URL, http://user:password@host:port)",
        ),
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            WITH_CREDS,
            "(proxy authentication required: the proxy refused the credentials of its URL)",
        ),
        (
            b"HTTP/1.0 403 Access violation\r\n\r\n",
            PROXY,
            "HTTP 403 Access violation (the proxy does not allow",
        ),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\n",
            PROXY,
            "HTTP 502 Bad Gateway (the proxy could not reach",
        ),
        (b"HTTP/1.1 500 \r\n\r\n", PROXY, "HTTP 500"),
        (b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", PROXY, "HTTP 301 Moved"),
    ],
)
def test_any_other_answer_is_a_connect_failure_with_the_proxy_status(
    answer: bytes, proxy: Proxy, words: str
) -> None:
    reply = _reply(answer, proxy=proxy)
    with pytest.raises(TunnelError) as info:
        reply.check()
    message = str(info.value)
    assert info.value.error is ErrorClass.CONNECT
    assert words in message
    assert message.startswith(
        f"proxy 127.0.0.1:3128 (from {proxy.source}) answered CONNECT example.com:443 with"
    )
    assert "s3cret" not in message and "\n" not in message


def test_data_before_the_handshake_is_refused() -> None:
    reply = _reply(b"HTTP/1.1 200 OK\r\n\r\nsurprise")
    assert reply.extra == b"surprise"
    with pytest.raises(TunnelError, match="sent data before the TLS handshake"):
        reply.check()


@pytest.mark.parametrize(
    "answer", [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"\x16\x03\x01\x00\x10\n\n"]
)
def test_a_malformed_answer_is_a_connect_failure(answer: bytes) -> None:
    reply = TunnelReply(PROXY, "example.com:443")
    with pytest.raises(TunnelError, match="malformed answer to CONNECT") as info:
        reply.feed(answer)
    assert info.value.error is ErrorClass.CONNECT


def test_an_endless_head_is_refused() -> None:
    reply = TunnelReply(PROXY, "example.com:443")
    assert reply.feed(b"HTTP/1.1 200 OK\r\n") is False
    with pytest.raises(TunnelError, match=f"over {MAX_REPLY_BYTES} bytes"):
        reply.feed(b"X: " + b"y" * MAX_REPLY_BYTES + b"\r\n")


def test_eof_before_the_answer() -> None:
    reply = TunnelReply(PROXY, "example.com:443")
    reply.feed(b"HTTP/1.1 200")
    assert "closed the connection before answering CONNECT" in str(reply.eof())
