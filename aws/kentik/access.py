"""Who and where for Kentik's API: the typed errors, the user's credentials (never shown), and the base
URLs and TLS context, each checked before any call (standard library only).

Credentials come from KENTIK_EMAIL and KENTIK_API_TOKEN; a value no HTTP header can carry is refused
without quoting it. Base URLs: `base_url()` (Cloud Export; KENTIK_API_URL) and `v5_url()` (plans;
KENTIK_V5_API_URL), an explicit override winning over the environment; http only to loopback, no
user:password. A custom CA bundle comes from SSL_CERT_FILE or REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from aws.errors import (
    AccessDeniedError,
    CredentialsError,
    EndpointError,
    FlowlogsError,
    ValidationFailed,
)

KentikRegion = Literal["us", "eu"]
CLOUD_EXPORT_HOSTS: dict[str, str] = {"us": "https://grpc.api.kentik.com", "eu": "https://grpc.api.kentik.eu"}
V5_HOSTS: dict[str, str] = {"us": "https://api.kentik.com", "eu": "https://api.kentik.eu"}
EMAIL_HEADER = "X-CH-Auth-Email"
TOKEN_HEADER = "X-CH-Auth-API-Token"
CA_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")  # the first one set wins
_REDACTED = "<redacted>"


# -- errors ------------------------------------------------------------------------------------------
class KentikCredentialsMissing(CredentialsError):
    """KENTIK_EMAIL or KENTIK_API_TOKEN is not set (or empty)."""

    title = "Kentik credentials"


class KentikCredentialsInvalid(KentikCredentialsMissing):
    """KENTIK_EMAIL or KENTIK_API_TOKEN holds characters no HTTP header can carry (a pasted line break)."""


def header_safe(value: str) -> bool:
    return all(33 <= ord(c) <= 126 for c in value)


class KentikAccessDenied(AccessDeniedError):
    """Kentik answered 401 (the email/token pair is not valid) or 403 (valid, but without the scope)."""

    title = "Kentik access denied"

    def __init__(self, message: str, *, status: int, action: str = "", hint: str = "") -> None:
        super().__init__(message, action=action, hint=hint)
        self.status = status


class KentikRejected(ValidationFailed):
    """Kentik answered 400: it rejected the request. `field` names the field it rejected ('' when its
    answer did not say); `detail` is Kentik's own message."""

    title = "Kentik rejected the request"

    def __init__(self, message: str, *, field: str = "", detail: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.field = field
        self.detail = detail


class KentikApiError(FlowlogsError):
    """Any other error answer from Kentik (`status` the HTTP status, `code` the rpcStatus code)."""

    title = "Kentik API error"

    def __init__(self, message: str, *, status: int = 0, code: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class KentikNotFound(KentikApiError):
    """404: no such export (or no such path on the configured base URL)."""


class KentikUnreachable(EndpointError):
    """Kentik's API did not answer: refused, timed out, TLS failure, proxy failure, bad host name, or an
    answer that is not HTTP or ends early."""

    title = "Kentik unreachable"


class KentikUnavailable(KentikUnreachable):
    """Kentik answered 429 or 5xx (busy, or down for now), after the retries of an idempotent call."""

    def __init__(self, message: str, *, endpoint: str, status: int, hint: str = "") -> None:
        super().__init__(message, endpoint=endpoint, hint=hint)
        self.status = status
        self.retry_after = 0.0


def _seconds(value: str) -> float:
    """A Retry-After in seconds (an HTTP date, or nonsense, counts as none)."""
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


# -- credentials and URLs ----------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class KentikCredentials:
    """The Kentik user's email and API token. Never printed: repr/str show the email only."""

    email: str
    token: str = field(compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KentikCredentials:
        source = os.environ if env is None else env
        email = source.get("KENTIK_EMAIL", "").strip()
        token = source.get("KENTIK_API_TOKEN", "").strip()
        missing = [
            name for name, value in (("KENTIK_EMAIL", email), ("KENTIK_API_TOKEN", token)) if not value
        ]
        if missing:
            raise KentikCredentialsMissing(
                f"Kentik credentials are not set: {' and '.join(missing)}.",
                hint="Export KENTIK_EMAIL (the Kentik user's email) and KENTIK_API_TOKEN (its API token, "
                "from the Kentik portal's user profile). The token is read from the environment only.",
            )
        bad = [
            name
            for name, value in (("KENTIK_EMAIL", email), ("KENTIK_API_TOKEN", token))
            if not header_safe(value)
        ]
        if bad:  # http.client would refuse the header and quote it (token and all) in its error
            raise KentikCredentialsInvalid(
                f"{' and '.join(bad)} must be printable ASCII without spaces; the value set is not (not shown).",
                hint="Copy the email and API token again from the Kentik portal: a line break or a typographic "
                "character was probably pasted with it.",
            )
        return cls(email=email, token=token)

    def headers(self) -> dict[str, str]:
        return {EMAIL_HEADER: self.email, TOKEN_HEADER: self.token}

    def scrub(self, text: str) -> str:
        """`text` with the token replaced (for anything that came from outside and is shown or raised)."""
        return text.replace(self.token, _REDACTED) if self.token else text

    def __repr__(self) -> str:
        return f"KentikCredentials(email={self.email!r}, token={_REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would carry the token to disk: refuse
        raise TypeError("KentikCredentials are not picklable")


def _pick_url(
    kind: str,
    region: str,
    override: str | None,
    env_var: str,
    hosts: Mapping[str, str],
    env: Mapping[str, str] | None,
) -> str:
    source = os.environ if env is None else env
    chosen = (override or "").strip() or source.get(env_var, "").strip()
    if chosen:
        problem = _url_problem(chosen)
        if problem:
            raise ValidationFailed(
                f"Not a {kind} URL: {chosen!r} ({problem}).",
                hint="Give a URL such as https://grpc.api.kentik.com (http or https, a host, an optional "
                "port from 1 to 65535).",
            )
        return chosen.rstrip("/")
    if region not in hosts:
        raise ValidationFailed(f"Unknown Kentik region {region!r}.", hint="Use 'us' or 'eu'.")
    return hosts[region]


def _url_problem(url: str) -> str:
    """What makes `url` unusable as a base URL ('' when nothing does), checked before any call so that
    urllib never sees it (it would raise http.client.InvalidURL)."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not an integer, or not 0-65535
    except ValueError as err:
        return str(err) or "it cannot be parsed"
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "it has no host"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is not between 1 and 65535"
    if parts.query or parts.fragment:
        return "a base URL takes no query or fragment"
    if parts.username is not None or parts.password is not None:
        return "a base URL takes no user or password (they would be logged and sent)"
    if parts.scheme.lower() == "http" and not _loopback(parts.hostname):
        return (
            "plain http sends the API token unencrypted: use https (http is for 127.0.0.1 or localhost only)"
        )
    return ""


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(region: str = "us", override: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The Cloud Export API base URL: `override` (the --kentik-api-url flag), else KENTIK_API_URL, else the
    region's host."""
    return _pick_url("Kentik API", region, override, "KENTIK_API_URL", CLOUD_EXPORT_HOSTS, env)


def v5_url(region: str = "us", override: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The v5 API base URL (plans): `override`, else KENTIK_V5_API_URL, else the region's host."""
    return _pick_url("Kentik v5 API", region, override, "KENTIK_V5_API_URL", V5_HOSTS, env)


def ssl_context(ca_bundle: str | None = None, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A verifying TLS context; with a custom CA bundle (`ca_bundle`, else SSL_CERT_FILE, else
    REQUESTS_CA_BUNDLE) that bundle is the trust store."""
    source = os.environ if env is None else env
    where, path = "ca_bundle", (ca_bundle or "").strip()
    for var in CA_BUNDLE_VARS:
        if path:
            break
        where, path = var, source.get(var, "").strip()
    if not path:
        return ssl.create_default_context()
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as err:
        raise ValidationFailed(
            f"The CA bundle {path} ({where}) cannot be used: {err.strerror or err}.",
            hint=f"Point {where} at a PEM file of trusted CA certificates, or unset it.",
        ) from None
