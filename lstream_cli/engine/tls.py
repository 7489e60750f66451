"""The client TLS context, one for ``get``'s transport and the load engine.

A run's trust is chosen once (``--cacert``, ``AWS_CA_BUNDLE``, the profile's
``ca_bundle``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the system's store
plus certifi's bundle: :mod:`lstream_cli.net.trust`) and the clients are
handed its ready context. ``client_context(True)`` is that last default
(for callers that chose nothing), ``client_context(False)`` is
``--insecure``; both come from the same builder. ALPN offers HTTP/1.1 only.

The ``ssl`` module (OpenSSL's start-up) is imported only when a context is
made: a plain-http run never loads it. :func:`tls_error` tells the ssl
module's exceptions apart without importing it (none can exist before it is
loaded).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from lstream_cli.net.trust import INSECURE, SYSTEM, Trust

if TYPE_CHECKING:
    import ssl

__all__ = ["client_context", "tls_error"]


def client_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    """A client context for ``verify`` (a ready context is returned as is)."""
    if not isinstance(verify, bool):
        return verify
    return Trust(SYSTEM if verify else INSECURE).context()


def tls_error(exc: BaseException, name: str = "SSLError") -> bool:
    """``exc`` is an instance of the ssl module's exception ``name`` (``SSLError``, ...)."""
    module = sys.modules.get("ssl")
    return module is not None and isinstance(exc, getattr(module, name))
