"""EC2's ClientToken idempotency for CreateFlowLogs, which moto ignores.

AWS: a request repeated with the same `ClientToken` and the same parameters returns the original result
(the same FlowLogIds) and creates nothing; the same token with different parameters fails with
`IdempotentParameterMismatch`. moto creates again (or refuses with FlowLogAlreadyExists), so a retry after
a lost response would look different in the sandbox than in AWS. `apply()` patches moto's CreateFlowLogs
response handler (after moto_fixes' own version) to behave like AWS. Tokens are kept per account and
region on the EC2 backend, so moto's reset forgets them.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import flow_logs as ec2_flow_log_responses

_lock = threading.Lock()  # patching
_tokens_lock = threading.Lock()  # the token table, across the threads of a ThreadedMotoServer
_applied = False
_ATTR = "_flowlogs_client_tokens"  # on the EC2 backend: token -> (fingerprint, result)
_NOT_PARAMS = ("ClientToken", "Action", "Version")


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, token: str) -> None:
        super().__init__(
            "IdempotentParameterMismatch",
            f"The client token {token} was already used for a CreateFlowLogs request with other parameters.",
        )


def _fingerprint(querystring: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in querystring.items() if k not in _NOT_PARAMS}, sort_keys=True, default=str
    )


def apply() -> None:
    """Patch once per process (later calls do nothing). Call after moto_fixes' flow log fix."""
    global _applied
    with _lock:
        if _applied:
            return
        inner: Any = ec2_flow_log_responses.FlowLogs.create_flow_logs

        def create_flow_logs(self: Any) -> Any:
            token = self._get_param("ClientToken")
            if not token:
                return inner(self)
            fingerprint = _fingerprint(dict(self.querystring))
            backend = self.ec2_backend
            with _tokens_lock:
                seen: dict[str, tuple[str, Any]] = backend.__dict__.setdefault(_ATTR, {})
                if token in seen:
                    first, result = seen[token]
                    if first != fingerprint:
                        raise IdempotentParameterMismatch(token)
                    return ActionResult(result)
                response = inner(self)
                if isinstance(response, ActionResult):
                    seen[token] = (fingerprint, response.result)
                return response

        ec2_flow_log_responses.FlowLogs.create_flow_logs = create_flow_logs  # type: ignore[method-assign]
        _applied = True
