"""A small REST client for Kentik's Cloud Export API (v202506) and the v5 plan list, standard library only.

    client = KentikClient(KentikCredentials.from_env(), region="us")
    for export in client.list_exports():
        ...

The credentials (KENTIK_EMAIL, KENTIK_API_TOKEN), base URLs, CA bundle and typed errors are in
aws.kentik.access; the token is sent in a header and nowhere else: it is not in any repr, str, exception
message or log line (it is also scrubbed from any text Kentik sends back). Proxies come from the
environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, through urllib's ProxyHandler). No redirect is followed
(urllib would carry the auth headers to wherever it points and turn a write into a GET): a 3xx is a
`KentikApiError` naming where it pointed. An answer is read to MAX_ANSWER_BYTES at most. A GET or PUT
that Kentik answers 429 or 5xx is tried again (RETRY_WAITS); still busy is `KentikUnavailable`. The
resources (CloudExport, Plan, ...) are the pydantic models of aws.kentik.models.

Failures are typed like the AWS ones (aws.errors): 401/403 `KentikAccessDenied`, 400 `KentikRejected`
(naming the field Kentik rejected), 404 `KentikNotFound`, no answer (or a broken one: not HTTP, cut
short) `KentikUnreachable`.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from aws.audit import AuditLog, new_call_id
from aws.errors import (
    FlowlogsError,
    ReadOnlyViolation,
    ValidationFailed,
    endpoint_of,
)
from aws.kentik.access import (
    KentikAccessDenied,
    KentikApiError,
    KentikCredentials,
    KentikNotFound,
    KentikRejected,
    KentikUnavailable,
    KentikUnreachable,
    _seconds,
    base_url,
    ssl_context,
    v5_url,
)
from aws.kentik.models import CloudExport, ExportList, Plan

log = logging.getLogger(__name__)

EXPORTS_PATH = "/cloud_export/v202506/exports"
PLANS_PATH = "/api/v5/plans"
READ_SCOPE = "admin.cloud_export:read"
WRITE_SCOPE = "admin.cloud_export:write"
DEFAULT_TIMEOUT = 30.0  # seconds, per request (connect and each read)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_WAITS = (1.0, 3.0)  # seconds before the 2nd and 3rd attempt (at least what Retry-After asks)
MAX_RETRY_WAIT = 20.0
sleep = time.sleep  # looked up on each use: tests replace it
MAX_ANSWER_BYTES = 16 * 2**20  # an export list is KB; more is not Kentik's API (memory stays bounded)


def _target(export: CloudExport) -> str:
    """The audit target of a new export: the bucket (and prefix) it reads."""
    if export.aws is None:
        return export.name
    prefix = (export.aws.bucket_prefix or "").strip("/")
    return f"s3://{export.aws.bucket or ''}/{prefix + '/' if prefix else ''}"


# -- the client --------------------------------------------------------------------------------------
_FIELD_PATTERNS = (
    re.compile(r'unknown field "?([\w.\[\]]+)"?', re.I),
    re.compile(r"""field ['"`]?([\w.\[\]]+)['"`]? (?:is )?(?:required|missing|invalid)""", re.I),
    re.compile(r"""(?:missing|required|invalid) (?:required )?field:? ['"`]?([\w.\[\]]+)""", re.I),
)


def rejected_field(status: Mapping[str, Any]) -> str:
    """The field an rpcStatus names: a google.rpc.BadRequest field violation, else one named in the
    message; '' when neither says."""
    for detail in _items(status.get("details")):
        if isinstance(detail, dict):
            for violation in _items(detail.get("fieldViolations")):
                if isinstance(violation, dict) and violation.get("field"):
                    return str(violation["field"])
    message = str(status.get("message") or "")
    for pattern in _FIELD_PATTERNS:
        if m := pattern.search(message):
            return m.group(1)
    return ""


def _items(value: Any) -> list[Any]:
    """`value` if Kentik sent a list there, else nothing (an answer is never trusted to have its shape)."""
    return value if isinstance(value, list) else []


def _read_capped(response: http.client.HTTPResponse, where: str) -> bytes:
    """The answer's body, at most MAX_ANSWER_BYTES: a declared length is read whole (so an answer cut short
    is caught), an undeclared one (chunked) only up to the cap."""
    declared = response.length
    too_long = KentikApiError(
        f"Kentik's answer to {where} is over {MAX_ANSWER_BYTES:,} bytes: not read further."
    )
    if declared is not None and declared > MAX_ANSWER_BYTES:
        raise too_long
    raw = response.read() if declared is not None else response.read(MAX_ANSWER_BYTES + 1)
    if len(raw) > MAX_ANSWER_BYTES:
        raise too_long
    return raw


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No redirect is followed: urllib would send the auth headers on to wherever it points (another host,
    plain http) and turn a POST or PUT into a GET. The 3xx is raised as it is (`_http_error`)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class KentikClient:
    """Calls the Cloud Export API (and the v5 plan list) as one Kentik user."""

    def __init__(
        self,
        credentials: KentikCredentials,
        *,
        region: str = "us",
        api_url: str | None = None,
        v5_api_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ca_bundle: str | None = None,
        env: Mapping[str, str] | None = None,
        read_only: bool = False,
        audit: AuditLog | None = None,
    ) -> None:
        self._credentials = credentials
        # Like AwsSession: in read-only mode every write is refused before anything is sent, and every
        # write is recorded in the audit log (an fsynced intent first, then its result; never the token).
        self.read_only = read_only
        self.audit = audit
        self.region = region
        self.api_url = base_url(region, api_url, env)
        self.v5_api_url = v5_url(region, v5_api_url, env)
        self.timeout = timeout
        # ProxyHandler() reads HTTPS_PROXY/HTTP_PROXY now and checks NO_PROXY per request.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(),
            urllib.request.HTTPSHandler(context=ssl_context(ca_bundle, env)),
            _RefuseRedirects(),
        )

    @property
    def email(self) -> str:
        return self._credentials.email

    def __repr__(self) -> str:
        return f"KentikClient(email={self.email!r}, api_url={self.api_url!r}, v5_api_url={self.v5_api_url!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("KentikClient is not picklable")

    # -- Cloud Export ------------------------------------------------------------------------------
    def list_exports(self) -> ExportList:
        data = self._call("GET", self.api_url + EXPORTS_PATH, scope=READ_SCOPE)
        items, invalid = data.get("exports") or [], data.get("invalidExportsCount") or 0
        if not isinstance(items, list) or not str(invalid).isdigit():
            raise KentikApiError(
                "Kentik's list of cloud exports is not as expected (exports, invalidExportsCount)."
            )
        return ExportList([self._parse(item) for item in items], int(invalid))

    def get_export(self, export_id: str) -> CloudExport:
        data = self._call("GET", self._export_url(export_id), scope=READ_SCOPE)
        return self._parse(data.get("export"))

    def create_export(self, export: CloudExport) -> CloudExport:
        body = {"export": export.to_api()}
        data = self._write("CreateExport", "POST", self.api_url + EXPORTS_PATH, body, target=_target(export))
        return self._parse(data.get("export"))

    def update_export(self, export_id: str, export: CloudExport) -> CloudExport:
        """PUT replaces the whole export: start from `get_export()` and change only what must change."""
        body = {"export": export.to_api()}  # the id goes in the path (the schema's body has none)
        data = self._write("UpdateExport", "PUT", self._export_url(export_id), body, target=export_id)
        return self._parse(data.get("export"))

    def delete_export(self, export_id: str) -> None:
        self._write("DeleteExport", "DELETE", self._export_url(export_id), None, target=export_id)

    # -- v5 ----------------------------------------------------------------------------------------
    def list_plans(self) -> list[Plan]:
        data = self._call("GET", self.v5_api_url + PLANS_PATH, scope="plans (v5 API)")
        try:
            return [Plan.model_validate(item) for item in _items(data.get("plans"))]
        except ValidationError as err:
            raise KentikApiError(
                f"Kentik's plan list is not as expected: {err.error_count()} problems."
            ) from None

    # -- plumbing ----------------------------------------------------------------------------------
    def _export_url(self, export_id: str) -> str:
        if not export_id:
            raise ValidationFailed("No cloud export id given.")
        return f"{self.api_url}{EXPORTS_PATH}/{quote(str(export_id), safe='')}"

    def _parse(self, item: Any) -> CloudExport:
        try:
            return CloudExport.model_validate(item)
        except ValidationError as err:
            raise KentikApiError(
                f"Kentik returned a cloud export that is not as expected ({err.error_count()} problems)."
            ) from None

    def _write(self, operation: str, method: str, url: str, body: Any, *, target: str) -> dict[str, Any]:
        """A call that changes Kentik: refused in read-only mode, audited ahead of time like AWS calls."""
        call_id = new_call_id()
        if self.read_only:
            self._audit("refused", call_id, operation, target, body, {"blocked": "read-only mode"})
            raise ReadOnlyViolation(
                f"Read-only mode: refused kentik:{operation} on {target}. Nothing was changed.",
                hint="Turn read-only off (command palette, or run without --read-only) to make changes.",
            )
        self._audit("intent", call_id, operation, target, body, None)
        try:
            data = self._call(method, url, body, scope=WRITE_SCOPE)
        except FlowlogsError as err:
            self._audit("result", call_id, operation, target, body, {"ok": False, "error": err.message})
            raise
        export = data.get("export")
        summary = {"id": export.get("id")} if isinstance(export, dict) else {}
        self._audit("result", call_id, operation, target, body, {"ok": True, "response": summary})
        return data

    def _audit(
        self,
        phase: str,
        call_id: str,
        operation: str,
        target: str,
        body: Any,
        result: dict[str, Any] | None,
    ) -> None:
        if self.audit is None:
            return
        record: dict[str, Any] = {
            "phase": phase,
            "call_id": call_id,
            "identity": self.email,  # the Kentik user; the token is never recorded
            "provider": "kentik",
            "service": "kentik",
            "region": self.region,
            "operation": operation,
            "target": target,
            "params": body or {},
            "endpoint": self.api_url,
        }
        if result is not None:
            record["result"] = result
        self.audit.append(record, sync=phase != "refused")

    def _call(self, method: str, url: str, body: Any = None, *, scope: str) -> dict[str, Any]:
        """One call; a GET or PUT (idempotent) that Kentik answers 429 or 5xx is tried again (RETRY_WAITS),
        a POST never (it may have created the export: a rerun finds it)."""
        for wait in (*RETRY_WAITS, None):
            try:
                return self._call_once(method, url, body, scope=scope)
            except KentikUnavailable as err:
                if wait is None or method not in ("GET", "PUT"):
                    raise
                log.debug("kentik %s %s: HTTP %s, retrying", method, url, err.status)
                sleep(min(max(err.retry_after, wait), MAX_RETRY_WAIT))
        raise AssertionError("unreachable")

    def _call_once(self, method: str, url: str, body: Any = None, *, scope: str) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": "flowlogs-tui", **self._credentials.headers()}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        log.debug("kentik %s %s", method, url)  # never the headers
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = _read_capped(response, f"{method} {url}")
        except urllib.error.HTTPError as err:
            try:
                payload = err.read()
            except (http.client.HTTPException, OSError, ValueError):
                payload = b""  # an error answer whose body broke off: its status still says enough
            finally:
                err.close()
            said = err.headers if err.headers is not None else {}
            problem = self._http_error(
                method, url, err.code, payload, scope, location=said.get("Location", "")
            )
            if isinstance(problem, KentikUnavailable):
                problem.retry_after = _seconds(said.get("Retry-After", ""))
            raise problem from None
        # A broken answer (not HTTP, cut short, bad chunking: http.client.HTTPException, or ValueError from
        # http.client's parsing) is no answer, like a refused or timed-out connection.
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            raise self._network_error(method, url, err) from None
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise KentikApiError(f"Kentik's answer to {method} {url} is not JSON.") from None
        if not isinstance(parsed, dict):
            raise KentikApiError(f"Kentik's answer to {method} {url} is not a JSON object.")
        return parsed

    def _http_error(
        self, method: str, url: str, status: int, payload: bytes, scope: str, *, location: str = ""
    ) -> FlowlogsError:
        rpc: dict[str, Any] = {}
        try:
            loaded = json.loads(payload or b"{}")
            rpc = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            rpc = {"message": payload.decode("utf-8", "replace")[:300]}
        detail = self._credentials.scrub(str(rpc.get("message") or "").strip())
        said = f": {detail}" if detail else ""
        where = f"{method} {url}"
        if status in (401, 403):
            what = "did not accept the credentials" if status == 401 else "refused the request"
            return KentikAccessDenied(
                f"Kentik {what} (HTTP {status}) for {where}{said}.",
                status=status,
                action=scope,
                hint=f"Check the Kentik email ({self.email}) and API token (KENTIK_EMAIL and KENTIK_API_TOKEN, "
                f"or as typed in the app): the token must belong to that user and carry the {READ_SCOPE} and "
                f"{WRITE_SCOPE} scopes.",
            )
        code = rpc.get("code") if isinstance(rpc.get("code"), int) else None
        if status == 400:
            name = self._credentials.scrub(rejected_field(rpc))
            named = f" the field {name!r}" if name else " the request"
            return KentikRejected(
                f"Kentik rejected{named} (HTTP 400) in {where}{said}.",
                field=name,
                detail=detail,
                hint="Nothing was changed in Kentik. Fix the value and retry.",
            )
        if 300 <= status < 400:
            to = self._credentials.scrub(location.strip())[:200] or "no Location given"
            return KentikApiError(
                f"Kentik's API answered {where} with a redirect (HTTP {status}, to {to}): not followed, so the "
                "credentials are sent to no other address and no write turns into another request.",
                status=status,
                hint="Point KENTIK_API_URL / KENTIK_V5_API_URL / --kentik-api-url at the API itself (https, "
                "the host the redirect names only if you trust it).",
            )
        if status == 404:
            return KentikNotFound(
                f"Kentik has no such resource: {where} (HTTP 404){said}.", status=404, code=code
            )
        if status in RETRY_STATUSES:
            again = "" if method in ("GET", "PUT") else " (not retried: a create may have been made)"
            return KentikUnavailable(
                f"Kentik's API answered HTTP {status} to {where}{said}{again}.",
                endpoint=endpoint_of(url),
                status=status,
                hint="Kentik is busy or down for the moment: rerun later (what was done is found, not redone).",
            )
        return KentikApiError(f"Kentik answered HTTP {status} to {where}{said}.", status=status, code=code)

    def _network_error(self, method: str, url: str, err: BaseException) -> KentikUnreachable:
        reason: Any = getattr(err, "reason", err)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            why = f"no answer within {self.timeout:g} s"
        elif isinstance(reason, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(reason, ssl.SSLError):
            why = f"TLS failure ({getattr(reason, 'reason', None) or reason})"
        elif isinstance(reason, http.client.IncompleteRead):
            got = len(reason.partial)
            more = f", {reason.expected} more expected" if reason.expected is not None else ""
            why = f"the answer ended early ({got} bytes read{more})"
        elif isinstance(reason, http.client.RemoteDisconnected):
            why = "the connection was closed without an answer"
        elif isinstance(reason, http.client.BadStatusLine):
            line = self._credentials.scrub(str(reason).strip())[:80]
            why = f"the answer is not HTTP (status line {line!r})" if line else "the answer is not HTTP"
        elif isinstance(reason, http.client.HTTPException):
            said = self._credentials.scrub(str(reason).strip())[:120]
            why = f"a broken HTTP answer ({type(reason).__name__}{': ' + said if said else ''})"
        elif isinstance(reason, ValueError):
            said = self._credentials.scrub(str(reason).strip())[:120]
            why = f"a broken answer ({said or type(reason).__name__})"
        else:
            why = self._credentials.scrub(str(reason) or type(reason).__name__)
        return KentikUnreachable(
            f"Kentik's API could not be reached for {method} {url}: {why}.",
            endpoint=endpoint_of(url),
            hint="Check the network or proxy (HTTPS_PROXY, NO_PROXY), the CA bundle (SSL_CERT_FILE, "
            "REQUESTS_CA_BUNDLE) and KENTIK_API_URL / --kentik-api-url if set; then rerun.",
        )
