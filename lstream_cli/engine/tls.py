"""The client TLS context, one for ``get``'s transport and the load engine.

A run's trust is chosen once (``--cacert``, ``AWS_CA_BUNDLE``, the profile's
``ca_bundle``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the system's store
plus certifi's bundle: :mod:`lstream_cli.net.trust`) and the clients are
handed its ready context. ``client_context(True)`` is that last default
(for callers that chose nothing), ``client_context(False)`` is
``--insecure``; both come from the same builder. ALPN offers HTTP/1.1 only.
"""

from __future__ import annotations

import ssl

from lstream_cli.net.trust import INSECURE, SYSTEM, Trust

__all__ = ["client_context"]


def client_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    """A client context for ``verify`` (a ready context is returned as is)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    return Trust(SYSTEM if verify else INSECURE).context()
