"""Where the signing credentials come from, and what is said when they fail.

botocore's default chain, with two changes of policy:

- **No metadata probing for a host that is not an AWS endpoint** under
  ``--auth auto``: for ``http://127.0.0.1:9000/`` or ``https://api.internal/``
  the chain stops at the environment and the profile files (static keys,
  ``credential_process``, SSO's cache, assume-role, web identity), without
  asking the EC2 instance metadata service (IMDS) or the ECS/EKS container
  credentials endpoint, which cost up to seconds where they do not answer
  and would hand an instance's role to an arbitrary server. ``--auth iam``
  (the user insists on signing) and AWS endpoints (:func:`is_aws_host`) keep
  the whole chain.
- **Broken credentials are a usage error naming their source**: an expired
  credential (a ``credential_process`` that returns an old ``Expiration``,
  an expired SSO session), a process that fails or prints something that is
  not its JSON, a missing SSO token. They are loaded and frozen once before
  anything is sent, so the failure is one line (exit 2) instead of a
  traceback half-way through a run. Messages name the provider (botocore's
  ``method``) and the profile, never a key, a secret or a token.

Before any of that, :func:`may_have_credentials` answers, without loading
botocore (a tenth of a second of imports), whether the chain could find
anything at all: with no credential or profile variable in the environment
and none of the files the chain reads, the answer is no, and ``--auth auto``
sends the request unsigned at once (for a host whose metadata endpoints are
not asked). Whenever a source may exist, botocore's chain decides as above.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lstream_cli._exitcodes import UsageError

__all__ = [
    "METADATA_PROVIDERS",
    "CredentialsError",
    "ResolvedCredentials",
    "credential_sources",
    "describe_source",
    "is_aws_host",
    "load_session",
    "may_have_credentials",
    "resolve_credentials",
    "resolve_env_credentials",
]

# botocore's names of the providers that ask a metadata endpoint over the network.
METADATA_PROVIDERS = ("iam-role", "container-role")

# DNS suffixes of AWS endpoints (commercial, China, the on.aws and api.aws forms).
_AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".on.aws", ".api.aws")

# Variables any provider of botocore's chain reads (keys, tokens, web identity,
# container credentials, the EC2 credentials file, a profile's name): when one
# is set, the chain decides, whatever its value.
_SOURCE_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CREDENTIAL_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)

# botocore's ``method`` -> what a user calls it.
_SOURCE_NAMES = {
    "env": "environment (AWS_ACCESS_KEY_ID)",
    "explicit": "explicit keys",
    "shared-credentials-file": "shared credentials file",
    "config-file": "config file",
    "custom-process": "credential_process",
    "sso": "SSO",
    "assume-role": "assume-role",
    "assume-role-with-web-identity": "web identity",
    "iam-role": "instance metadata (IMDS)",
    "container-role": "container credentials",
    "boto-config": "boto config file",
    "ec2-credentials-file": "EC2 credentials file",
    "login": "aws login",
}


class CredentialsError(UsageError):
    """Credentials missing, expired or broken where they are needed (exit 2)."""


@dataclass(frozen=True, slots=True)
class ResolvedCredentials:
    """Credentials found by the chain: the botocore object and where they came from."""

    credentials: Any  # botocore Credentials (maybe refreshable)
    method: str  # botocore's provider name: env, custom-process, sso, iam-role, ...
    profile: str | None
    access_key_tail: str  # the access key id's last four characters, for -v

    def describe(self) -> str:
        """``credential_process (custom-process), profile 'dev', access key id ...WXYZ``."""
        where = describe_source(self.method, self.profile)
        return f"{where}, access key id ...{self.access_key_tail}"


def describe_source(method: str, profile: str | None) -> str:
    name = _SOURCE_NAMES.get(method)
    label = f"{name} ({method})" if name else method
    if profile and method not in ("env", "iam-role", "container-role"):
        label += f", profile {profile!r}"
    return label


def is_aws_host(host: str) -> bool:
    """True for an AWS endpoint (``*.amazonaws.com``, ``*.on.aws``, ...)."""
    host = host.rstrip(".").lower()
    return any(host.endswith(suffix) for suffix in _AWS_SUFFIXES)


def may_have_credentials(
    profile: str | None, metadata: bool, environ: Mapping[str, str] | None = None
) -> bool:
    """False only when botocore's chain cannot find credentials: nothing to look at.

    That is: no ``--profile``; no variable of :data:`_SOURCE_VARS`; no shared
    credentials file, config file (``AWS_SHARED_CREDENTIALS_FILE``,
    ``AWS_CONFIG_FILE`` or their ``~/.aws`` defaults) or boto config file
    (``BOTO_CONFIG``, else ``/etc/boto.cfg`` and ``~/.boto``); and
    ``metadata`` False (instance and container metadata are not asked). No
    file is read and botocore is not imported.
    """
    env = os.environ if environ is None else environ
    if metadata or profile is not None or any(name in env for name in _SOURCE_VARS):
        return True
    files = [
        env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials",
        env.get("AWS_CONFIG_FILE") or "~/.aws/config",
    ]
    boto = env.get("BOTO_CONFIG")
    files += [boto] if boto else ["/etc/boto.cfg", "~/.boto"]
    # As botocore reads them: variables in the path ("$XDG_CONFIG_HOME/aws"), then "~".
    return any(os.path.exists(os.path.expanduser(os.path.expandvars(f))) for f in files)


def credential_sources(session: Any | None = None, metadata: bool = True) -> str:
    """Where the chain looks, for the 'no credentials' message.

    With the ``session`` that looked, the files and profile are the ones it
    really read (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``,
    ``--profile``/``AWS_PROFILE``), not the defaults, so a user can see a
    wrong path or profile at once. ``metadata``: whether the metadata
    endpoints were asked too.
    """
    credentials_file, config_file, profile = "~/.aws/credentials", "~/.aws/config", None
    if session is not None:
        try:
            credentials_file = str(session.get_config_variable("credentials_file"))
            config_file = str(session.get_config_variable("config_file"))
            profile = session.profile
        except Exception:  # a message helper must not fail; fall back to the defaults
            pass
    which = f"profile {profile!r}" if profile else "the default profile"
    tail = (
        "SSO, assume-role, web identity, container and instance metadata"
        if metadata
        else "SSO, assume-role and web identity (not instance or container metadata: "
        "the host is not an AWS endpoint; --auth iam asks them too)"
    )
    return (
        "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
        f"shared credentials file {credentials_file} and config file {config_file} "
        f"({which}; --profile / AWS_PROFILE), " + tail
    )


def load_session(profile: str | None) -> Any:
    """A botocore session for ``profile``; raises CredentialsError on a bad profile."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # an unknown profile fails here, not mid-run
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise CredentialsError(f"cannot read the AWS configuration: {_one_line(exc)}") from None
    return session


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _providers(session: Any, metadata: bool) -> list[Any]:
    from botocore.credentials import create_credential_resolver

    resolver = create_credential_resolver(session)
    if not metadata:
        for name in METADATA_PROVIDERS:
            resolver.remove(name)
    providers: list[Any] = resolver.providers
    return providers


def resolve_credentials(session: Any, metadata: bool = True) -> ResolvedCredentials | None:
    """The first credentials of the chain, loaded and checked; None when there are none.

    ``metadata=False`` leaves out the instance and container metadata
    providers (no network). Raises CredentialsError, naming the provider, when
    one fails or returns credentials that cannot be used (expired ones).
    """
    try:
        providers = _providers(session, metadata)
    except Exception as exc:
        raise CredentialsError(f"cannot set up the credential chain: {_one_line(exc)}") from None
    return _first_of(providers, session.profile)


def resolve_env_credentials() -> ResolvedCredentials | None:
    """The chain's first provider alone (``AWS_ACCESS_KEY_ID`` and its secret), no session.

    What :func:`resolve_credentials` finds when the environment holds keys
    and no ``--profile`` is given (the environment comes first in botocore's
    chain then), without building a botocore session; checked the same way.
    """
    from botocore.credentials import EnvProvider

    return _first_of([EnvProvider()], None)


def _first_of(providers: list[Any], profile: str | None) -> ResolvedCredentials | None:
    for provider in providers:
        method = str(getattr(provider, "METHOD", type(provider).__name__))
        try:
            credentials = provider.load()
        except Exception as exc:
            raise CredentialsError(_failure(method, profile, exc)) from None
        if credentials is None:
            continue
        method = str(getattr(credentials, "method", None) or method)
        try:
            # Refreshable credentials refresh here when expired: an expired
            # credential_process or SSO session fails now, before any timing.
            frozen = credentials.get_frozen_credentials()
        except Exception as exc:
            raise CredentialsError(_failure(method, profile, exc)) from None
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(
                f"the credentials from {describe_source(method, profile)} have no "
                "access key id or no secret access key"
            )
        return ResolvedCredentials(credentials, method, profile, str(frozen.access_key)[-4:])
    return None


def _failure(method: str, profile: str | None, exc: BaseException) -> str:
    """One line naming the source and what is wrong (botocore's words carry no secret)."""
    import json

    source = describe_source(method, profile)
    text = _one_line(exc)
    lowered = text.lower()
    if "expired" in lowered or type(exc).__name__ == "UnauthorizedSSOTokenError":
        action = (
            "run 'aws sso login'"
            if method == "sso" or "sso" in lowered
            else "refresh them (the source must return an Expiration in the future)"
        )
        return f"the credentials from {source} are expired: {action}"
    if isinstance(exc, json.JSONDecodeError):
        return f"the credentials from {source} are not valid JSON ({text})"
    return f"cannot load the credentials from {source}: {text}"
