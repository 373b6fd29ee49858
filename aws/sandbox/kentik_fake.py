"""A local fake of Kentik's Cloud Export API (v202506) and the v5 plan list, for the demo and the tests.

    with KentikFake(email="demo@example.com", token="demo-token") as fake:
        client = KentikClient(creds, api_url=fake.url, v5_api_url=fake.url)

A ThreadingHTTPServer on 127.0.0.1 (a free port). It checks what Kentik checks: both auth headers on every
request (401 otherwise), request bodies against the published schema (`SCHEMA`: unknown fields, missing
required ones and wrong types are a 400 rpcStatus naming the field), ids and timestamps assigned by the
server, PUT replacing the whole export. `currentStatus` is computed on every read by `status_for(export)`
(the demo wires it to the sandbox: can the role read the bucket, are there files).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

EXPORTS_PATH = "/cloud_export/v202506/exports"
PLANS_PATH = "/api/v5/plans"

# Derived from kentik/api-schema-public, gen/openapiv2/kentik/cloud_export/v202506/cloud_export.swagger.json
# (definitions v202506CloudExport, v202506AwsProperties, v202506CloudExportStatus,
# v202506CloudExportSamplingProperties, the Azure/GCE/OCI properties and the enums). Per object: its
# fields with their types ("string", "boolean", "integer", "string[]", another object's name, or an enum
# name), the fields the schema marks required, and the read-only ones (accepted in a request, ignored).
SCHEMA: dict[str, dict[str, Any]] = {
    "CloudExport": {
        "fields": {
            "id": "string",
            "type": "CloudExportType",
            "enabled": "boolean",
            "name": "string",
            "description": "string",
            "planId": "string",
            "cloudProvider": "CloudProvider",
            "aws": "AwsProperties",
            "azure": "AzureProperties",
            "gce": "GceProperties",
            "oci": "OciProperties",
            "currentStatus": "CloudExportStatus",
            "cdate": "string",
            "edate": "string",
            "sampling": "CloudExportSamplingProperties",
        },
        "required": ("enabled", "name", "planId", "cloudProvider"),
        "read_only": ("id", "currentStatus", "cdate", "edate"),
    },
    "AwsProperties": {
        "fields": {
            "iamRoleArn": "string",
            "region": "string",
            "metadataOnly": "boolean",
            "collectFlowLogs": "boolean",
            "collectFirewallLogs": "boolean",
            "collectMetrics": "boolean",
            "bucket": "string",
            "bucketPrefix": "string",
            "deleteAfterRead": "boolean",
            "awsIamRoleArnIsOrg": "boolean",
            "secondaryAwsAccounts": "string[]",
            "secondaryAwsBlockedAccounts": "string[]",
            "secondaryAwsRegions": "string[]",
            "secondaryAwsSuffix": "string",
        },
        "required": ("iamRoleArn", "region"),
    },
    "AzureProperties": {
        "fields": {
            "location": "string",
            "resourceGroup": "string",
            "storageAccount": "string",
            "subscriptionId": "string",
            "securityPrincipalEnabled": "boolean",
        },
        "required": ("location", "resourceGroup", "storageAccount", "subscriptionId"),
    },
    "GceProperties": {
        "fields": {
            "project": "string",
            "subscription": "string",
            "metadataOnly": "boolean",
            "collectFlowLogs": "boolean",
            "collectMetrics": "boolean",
        },
        "required": ("project",),
    },
    "OciProperties": {
        "fields": {
            "ociUserId": "string",
            "ociTenancyId": "string",
            "ociCompartmentId": "string[]",
            "ociDefaultRegion": "string",
            "ociCollectFlowLogs": "boolean",
            "ociBucketName": "string",
            "ociBucketNamespaceName": "string",
            "ociServiceConnectorOcid": "string",
            "ociFlowObjectNamePrefix": "string",
            "metadataOnly": "boolean",
        },
        "required": ("ociTenancyId", "ociDefaultRegion"),
    },
    "CloudExportStatus": {
        "fields": {
            "status": "string",
            "errorMessage": "string",
            "flowFound": "boolean",
            "apiAccess": "boolean",
            "storageAccountAccess": "boolean",
        },
        "required": (),
    },
    "CloudExportSamplingProperties": {
        "fields": {
            "samplingEnabled": "boolean",
            "samplingType": "CloudExportSamplingType",
            "samplingRate": "integer",
        },
        "required": (),
    },
}
ENUMS: dict[str, tuple[str, ...]] = {
    "CloudExportType": (
        "CLOUD_EXPORT_TYPE_UNSPECIFIED",
        "CLOUD_EXPORT_TYPE_KENTIK_MANAGED",
        "CLOUD_EXPORT_TYPE_CUSTOMER_MANAGED",
    ),
    "CloudProvider": (
        "CLOUD_PROVIDER_UNSPECIFIED",
        "CLOUD_PROVIDER_AWS",
        "CLOUD_PROVIDER_AZURE",
        "CLOUD_PROVIDER_GCE",
        "CLOUD_PROVIDER_OCI",
    ),
    "CloudExportSamplingType": (
        "CLOUD_EXPORT_SAMPLING_TYPE_UNSPECIFIED",
        "CLOUD_EXPORT_SAMPLING_TYPE_RATE",
        "CLOUD_EXPORT_SAMPLING_TYPE_UNSAMPLED",
    ),
}
# Not in the schema's `required` lists but enforced here as Kentik must: a provider's properties object.
PROVIDER_PROPERTIES = {
    "CLOUD_PROVIDER_AWS": "aws",
    "CLOUD_PROVIDER_AZURE": "azure",
    "CLOUD_PROVIDER_GCE": "gce",
    "CLOUD_PROVIDER_OCI": "oci",
}
# The v5 plan list (Kentik's v5 docs: GET /api/v5/plans -> {"plans": [...]}, numeric ids); minimal.
DEFAULT_PLANS: tuple[dict[str, Any], ...] = (
    {"id": 11467, "name": "Cloud flow plan", "description": "Demo plan", "active": True, "max_devices": 50},
)
_INVALID_ARGUMENT, _NOT_FOUND, _PERMISSION_DENIED, _UNAUTHENTICATED, _UNIMPLEMENTED = 3, 5, 7, 16, 12

StatusFor = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class SchemaError(Exception):
    """A request body that does not fit the schema: `field` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def unknown_status(export: Mapping[str, Any]) -> dict[str, Any]:
    """The default `status_for`: Kentik has not looked yet."""
    return {
        "status": "UNKNOWN",
        "errorMessage": "",
        "flowFound": False,
        "apiAccess": False,
        "storageAccountAccess": False,
    }


def validate(obj: Any, kind: str, path: str) -> None:
    """Raise `SchemaError` unless `obj` is a `kind` object of the schema (recursively)."""
    spec = SCHEMA[kind]
    if not isinstance(obj, dict):
        raise SchemaError(path, f"invalid value for {path}: expected an object")
    for name, value in obj.items():
        where = f"{path}.{name}"
        if name not in spec["fields"]:
            raise SchemaError(where, f'unknown field "{where}"')
        _check_type(value, spec["fields"][name], where)
    for name in spec["required"]:
        if name not in obj:
            raise SchemaError(f"{path}.{name}", f"missing required field {path}.{name}")


def _check_type(value: Any, kind: str, where: str) -> None:
    if kind in SCHEMA:
        validate(value, kind, where)
    elif kind in ENUMS:
        if value not in ENUMS[kind]:
            raise SchemaError(where, f"invalid value for {where}: {value!r} is not a {kind}")
    elif kind == "string[]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SchemaError(where, f"invalid value for {where}: expected a list of strings")
    else:
        python = {"string": str, "boolean": bool, "integer": int}[kind]
        if not isinstance(value, python) or (kind == "integer" and isinstance(value, bool)):
            raise SchemaError(where, f"invalid value for {where}: expected a {kind}")


def validate_export_request(body: Any) -> dict[str, Any]:
    """A create/update body `{export: CloudExport}`, validated; returns the export without read-only
    fields."""
    if not isinstance(body, dict):
        raise SchemaError("", "invalid request body: expected a JSON object")
    for name in body:
        if name != "export":
            raise SchemaError(name, f'unknown field "{name}"')
    if "export" not in body:
        raise SchemaError("export", "missing required field export")
    validate(body["export"], "CloudExport", "export")
    export = {k: v for k, v in body["export"].items() if k not in SCHEMA["CloudExport"]["read_only"]}
    wanted = PROVIDER_PROPERTIES.get(export["cloudProvider"])
    if wanted and wanted not in export:
        raise SchemaError(
            f"export.{wanted}", f"missing required field export.{wanted} for {export['cloudProvider']}"
        )
    return export


class KentikFake:
    """A running fake (after `start()` or entering `with`). `url` serves both the Cloud Export paths and
    /api/v5/plans. `exports` holds the stored exports by id (without currentStatus)."""

    def __init__(
        self,
        *,
        email: str = "demo@example.com",
        token: str = "demo-token",
        status_for: StatusFor | None = None,
        plans: Iterable[Mapping[str, Any]] = DEFAULT_PLANS,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.email = email
        self._token = token
        self.status_for: StatusFor = status_for or unknown_status
        self.plans = [dict(p) for p in plans]
        self.read_only = read_only  # the token lacks admin.cloud_export:write: writes get 403
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.exports: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path); never headers
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"KentikFake(email={self.email!r}, url={self.url if self._server else None!r})"

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Kentik fake is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KentikFake:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="kentik-fake", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KentikFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state -------------------------------------------------------------------------------------
    def _now(self) -> str:
        return (
            self._clock().astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )

    def seed(self, export: Mapping[str, Any]) -> dict[str, Any]:
        """Store an export as if made in the portal (validated like a create); returns it with its id."""
        status, answer = self.create({"export": dict(export)})
        if status != 200:
            raise ValueError(answer["message"])
        return dict(answer["export"])

    def _view(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        view = json.loads(json.dumps(stored))
        status = dict(self.status_for(view))
        validate(status, "CloudExportStatus", "currentStatus")  # the callback's answer must fit too
        view["currentStatus"] = status
        return view

    def list(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stored = list(self.exports.values())
        return 200, {"exports": [self._view(e) for e in stored], "invalidExportsCount": 0}

    def get(self, export_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stored = self.exports.get(export_id)
        if stored is None:
            return _not_found(export_id)
        return 200, {"export": self._view(stored)}

    def _plan_problem(self, export: Mapping[str, Any], export_id: str = "") -> SchemaError | None:
        """Kentik refuses an export whose planId is not one of the account's plans, or whose name another
        export has (Kentik's Terraform provider: "cloudexport name must be unique")."""
        if str(export.get("planId")) not in {str(p.get("id")) for p in self.plans}:
            return SchemaError(
                "export.planId", f"invalid value for export.planId: no plan {export.get('planId')}"
            )
        with self._lock:
            taken = {e["name"] for i, e in self.exports.items() if i != export_id}
        if export.get("name") in taken:
            return SchemaError("export.name", f"invalid value for export.name: {export['name']!r} is taken")
        return None

    def create(self, body: Any) -> tuple[int, dict[str, Any]]:
        try:
            export = validate_export_request(body)
        except SchemaError as err:
            return _bad_request(err)
        if problem := self._plan_problem(export):
            return _bad_request(problem)
        with self._lock:
            export_id = str(next(self._ids))
            now = self._now()
            stored = {"id": export_id, **export, "cdate": now, "edate": now}
            self.exports[export_id] = stored
        return 200, {"export": self._view(stored)}

    def update(self, export_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        try:
            export = validate_export_request(body)
        except SchemaError as err:
            return _bad_request(err)
        if problem := self._plan_problem(export, export_id):
            return _bad_request(problem)
        with self._lock:
            old = self.exports.get(export_id)
            if old is None:
                return _not_found(export_id)
            stored = {"id": export_id, **export, "cdate": old["cdate"], "edate": self._now()}  # replaces all
            self.exports[export_id] = stored
        return 200, {"export": self._view(stored)}

    def delete(self, export_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.exports.pop(export_id, None) is None:
                return _not_found(export_id)
        return 200, {}

    def authorized(self, headers: Any) -> bool:  # a Mapping or an http.client.HTTPMessage
        return (
            headers.get("X-CH-Auth-Email") == self.email and headers.get("X-CH-Auth-API-Token") == self._token
        )


def _rpc(
    status: int, code: int, message: str, details: list[dict[str, Any]] | None = None
) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message, "details": details or []}


def _bad_request(err: SchemaError) -> tuple[int, dict[str, Any]]:
    violation = {"field": err.field, "description": err.message}
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}]
    return _rpc(400, _INVALID_ARGUMENT, err.message, details)


def _not_found(export_id: str) -> tuple[int, dict[str, Any]]:
    return _rpc(404, _NOT_FOUND, f"cloud export {export_id} not found")


def _handler_for(fake: KentikFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the TUI shares the terminal
            log.debug("kentik fake: " + format, *args)

        def _answer(self, result: tuple[int, dict[str, Any]]) -> None:
            status, payload = result
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw.strip() else None

        def _route(self, method: str) -> tuple[int, dict[str, Any]]:
            path = urlsplit(self.path).path.rstrip("/")
            fake.requests.append((method, path))
            body: Any = None
            if method in ("POST", "PUT"):
                try:
                    body = self._body()
                except ValueError:
                    return _rpc(400, _INVALID_ARGUMENT, "invalid request body: not JSON")
            if not fake.authorized(self.headers):
                return _rpc(401, _UNAUTHENTICATED, "invalid authentication credentials")
            if path == PLANS_PATH and method == "GET":
                return 200, {"plans": [dict(p) for p in fake.plans]}
            if fake.read_only and method in ("POST", "PUT", "DELETE"):
                return _rpc(403, _PERMISSION_DENIED, "permission denied: admin.cloud_export:write")
            if path == EXPORTS_PATH:
                if method == "GET":
                    return fake.list()
                if method == "POST":
                    return fake.create(body)
            elif path.startswith(EXPORTS_PATH + "/") and "/" not in path[len(EXPORTS_PATH) + 1 :]:
                export_id = unquote(path[len(EXPORTS_PATH) + 1 :])
                if method == "GET":
                    return fake.get(export_id)
                if method == "PUT":
                    return fake.update(export_id, body)
                if method == "DELETE":
                    return fake.delete(export_id)
            else:
                return _rpc(404, _NOT_FOUND, f"no such path: {path}")
            return _rpc(405, _UNIMPLEMENTED, f"method {method} not allowed on {path}")

        def do_GET(self) -> None:
            self._answer(self._route("GET"))

        def do_POST(self) -> None:
            self._answer(self._route("POST"))

        def do_PUT(self) -> None:
            self._answer(self._route("PUT"))

        def do_DELETE(self) -> None:
            self._answer(self._route("DELETE"))

    return Handler


def ticking_clock(start: datetime, step: timedelta = timedelta(seconds=1)) -> Callable[[], datetime]:
    """A deterministic clock for tests: `start`, then one `step` later on every call."""
    ticks = itertools.count()
    return lambda: start + step * next(ticks)
