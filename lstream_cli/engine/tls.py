"""The client TLS context, one for ``get``'s transport and the load engine.

Verification trusts the system's store (which honours SSL_CERT_FILE and
SSL_CERT_DIR, as curl does) plus certifi's bundle for systems that have
none; ``--insecure`` turns verification off. ALPN offers HTTP/1.1 only.
"""

from __future__ import annotations

import ssl

__all__ = ["client_context"]


def client_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    """A client context for ``verify`` (a ready context is returned as is)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify:
        import certifi

        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=certifi.where())
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
