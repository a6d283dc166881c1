"""`test`: send one real message through the connection and report each step.

The status of a connection is unknown until it is used; the test (like every send after it)
stores ok or the error, in the server's words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.outbound.compose import (
    Envelope,
    address_domain,
    compose,
    loop_header_value,
    new_message_id,
)
from connector.outbound.delivery import SendError, Step, Steps
from connector.outbound.templates import Rendered
from connector.outbound.transport import build_sender
from connector.outbound_config import ConnectionSpec
from connector.runtime import Runtime
from connector.tenant import Tenant


@dataclass(frozen=True)
class TestReport:
    ok: bool
    steps: tuple[Step, ...]
    message_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "steps": [step.to_json() for step in self.steps],
            "message_id": self.message_id,
        }


def send_test(
    runtime: Runtime,
    tenant: Tenant,
    spec: ConnectionSpec,
    *,
    to_address: str,
    password: str | None = None,
    record: bool = True,
) -> TestReport:
    """Send a test mail to `to_address`; `record`: store the outcome as the status."""
    steps = Steps()
    message_id = new_message_id(address_domain(spec.from_address))
    message = compose(
        Envelope(
            from_address=spec.from_address,
            from_name=spec.from_name,
            to_address=to_address,
            reply_to=spec.reply_to,
        ),
        Rendered(
            subject="Mail Connector for Jira: test message",
            text="This message tests the outbound mail connection of Mail Connector for Jira."
            "\nNo answer is needed.\n",
            html="<p>This message tests the outbound mail connection of Mail Connector for "
            "Jira.</p><p>No answer is needed.</p>",
        ),
        message_id=message_id,
        loop_value=loop_header_value(runtime.settings.app_key, tenant.client_key),
    )
    error: SendError | None = None
    try:
        with steps.step("configure", f"{spec.transport} with {spec.auth} sign-in"):
            sender = build_sender(runtime, tenant.id, spec, password=password)
        sender.send(message, steps)
    except SendError as exc:
        error = exc
    if record:
        status = "test message sent" if error is None else f"{error.step}: {error}"
        runtime.outbound.record_status(tenant.id, ok=error is None, message=status)
    return TestReport(error is None, tuple(steps.taken), message_id)
