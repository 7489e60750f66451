"""Which certificates verify a server, chosen as the AWS tools choose them.

Order (the first that is set wins; a chosen bundle REPLACES the defaults):

1. ``--cacert FILE``;
2. ``AWS_CA_BUNDLE`` (the AWS CLI and SDKs);
3. the profile's ``ca_bundle`` in the AWS config file (``--profile``, else
   ``AWS_PROFILE``, else ``default``), read by botocore;
4. ``SSL_CERT_FILE`` and/or ``SSL_CERT_DIR`` (OpenSSL's, as curl and Python);
5. the system store, plus certifi's bundle (for systems that have none).

``-k/--insecure`` verifies nothing and reads none of them. The choice is a
plain value (:class:`Trust`, picklable), made once before any timing; its
:meth:`Trust.context` is built once per process. A file that is missing,
unreadable or holds no certificate is a usage error (exit 2) naming where it
came from. :func:`tls_failure_reason` words a handshake failure: a
verification failure names the bundle used, and a server that answers a TLS
handshake in plain HTTP gets the hint to use ``http://``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lstream_cli._exitcodes import UsageError

if TYPE_CHECKING:
    import ssl

__all__ = ["INSECURE", "SYSTEM", "Trust", "resolve_trust", "tls_failure_reason"]

SYSTEM = "the system store and certifi"
INSECURE = "--insecure"
# OpenSSL's words for a peer that answered a ClientHello with something else.
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
)
_contexts: dict[tuple[Trust, str], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Trust:
    """The trust chosen for a run: where it came from and what it loads."""

    source: str  # "--cacert", "AWS_CA_BUNDLE", "profile default's ca_bundle", ... SYSTEM, INSECURE
    cafile: str | None = None
    capath: str | None = None

    @property
    def verify(self) -> bool:
        return self.source != INSECURE

    def describe(self) -> str:
        """``/path from AWS_CA_BUNDLE``: what verifies the server, for ``-v`` and errors."""
        if not self.verify:
            return "none (--insecure: the certificate is not verified)"
        if self.source == SYSTEM:
            import ssl

            paths = ssl.get_default_verify_paths()
            system = paths.cafile or paths.capath or "none found"
            return f"{SYSTEM} ({system}; {_certifi_where()})"
        parts = []
        if self.cafile is not None:
            parts.append(self.cafile)
        if self.capath is not None:
            parts.append(self.capath)
        return f"{' and '.join(parts)} from {self.source}"

    def context(self) -> ssl.SSLContext:
        """The client TLS context (built once per process; ALPN http/1.1)."""
        key = (self, _certifi_where() if self.source == SYSTEM else "")
        with _contexts_lock:
            ctx = _contexts.get(key)
            if ctx is None:
                ctx = self._build()
                _contexts[key] = ctx
            return ctx

    def _build(self) -> ssl.SSLContext:
        import ssl  # here, not at import: a plain-http run never pays OpenSSL's start-up

        if not self.verify:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.source == SYSTEM:
            ctx = ssl.create_default_context()
            ctx.load_verify_locations(cafile=_certifi_where())
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.cafile, capath=self.capath)
            except ssl.SSLError as exc:  # read, but no certificate in it
                why = _wording(exc.reason or exc)
                raise UsageError(f"cannot use the CA bundle {self.describe()}: {why}") from None
            except OSError as exc:
                why = exc.strerror or str(exc)
                raise UsageError(f"cannot use the CA bundle {self.describe()}: {why}") from None
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def botocore_verify(self) -> bool | str | None:
        """botocore's ``verify=``: False, a bundle path, or None for its own default."""
        if not self.verify:
            return False
        if self.source == SYSTEM:
            return None  # nothing set: botocore's default (certifi's bundle)
        return self.cafile or self.capath


def _certifi_where() -> str:
    import certifi

    return str(certifi.where())


def _wording(why: object) -> str:
    text = str(why)
    if "NO_CERTIFICATE_OR_CRL_FOUND" in text or "no certificate or crl found" in text.lower():
        return "no certificate found in it (expected PEM certificates)"
    return text


def _readable_file(path: str, source: str) -> str:
    shown = f"{path} from {source}"
    try:
        with open(path, "rb"):
            pass
    except IsADirectoryError:
        raise UsageError(f"cannot use the CA bundle {shown}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot use the CA bundle {shown}: {exc.strerror or exc}") from None
    return path


def _profile_bundle(profile: str | None) -> tuple[str, str] | None:
    """The profile's ``ca_bundle`` and its description, if the config sets one."""
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    if not os.path.isfile(os.path.expanduser(config)):
        return None  # nothing to read: spare loading botocore
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        value = session.get_scoped_config().get("ca_bundle")
        name = session.profile or "default"
    except botocore.exceptions.ProfileNotFound as exc:
        raise UsageError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"cannot read the AWS config file: {exc}") from None
    if not value:
        return None
    return os.path.expanduser(str(value)), f"the ca_bundle of profile {name!r}"


def resolve_trust(
    cacert: str | None,
    insecure: bool,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Trust:
    """Choose the trust for a run (see the module's order); raises UsageError."""
    env = os.environ if environ is None else environ
    if insecure:
        return Trust(INSECURE)
    chosen: Trust | None = None
    if cacert is not None:
        chosen = Trust("--cacert", _readable_file(cacert, "--cacert"))
    elif env.get("AWS_CA_BUNDLE"):
        chosen = Trust("AWS_CA_BUNDLE", _readable_file(env["AWS_CA_BUNDLE"], "AWS_CA_BUNDLE"))
    else:
        found = _profile_bundle(profile)
        if found is not None:
            chosen = Trust(found[1], _readable_file(*found))
    if chosen is None:
        cafile, capath = env.get("SSL_CERT_FILE") or None, env.get("SSL_CERT_DIR") or None
        if cafile is None and capath is None:
            chosen = Trust(SYSTEM)
            chosen.context()  # loaded now, before anything is timed
            return chosen
        if cafile is not None:
            _readable_file(cafile, "SSL_CERT_FILE")
        if capath is not None and not os.path.isdir(capath):
            raise UsageError(
                f"cannot use the CA bundle {capath} from SSL_CERT_DIR: not a directory"
            )
        source = " and ".join(
            name for name, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)) if v
        )
        chosen = Trust(source, cafile, capath)
    chosen.context()  # loaded now: a file without a certificate fails before anything is sent
    return chosen


def tls_failure_reason(exc: BaseException, trust: Trust | None) -> str:
    """Why a TLS handshake failed, in one line (``exc`` from the ``ssl`` module).

    A verification failure names the CA bundle it was checked against; a peer
    that answered in plain HTTP gets the hint to use ``http://``.
    """
    import ssl  # loaded already: ``exc`` is one of its exceptions

    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or "certificate verify failed"
        bundle = f" (CA bundle: {trust.describe()})" if trust is not None else ""
        return f"certificate verify failed: {why}{bundle}"
    reason = getattr(exc, "reason", None) or ""
    text = str(reason or exc) or exc.__class__.__name__
    if any(word in str(reason).upper() or word in str(exc).upper() for word in _NOT_TLS):
        return (
            f"{text.lower().replace('_', ' ')}: the server did not answer in TLS "
            "(a plain-HTTP port? use http://)"
        )
    return text
