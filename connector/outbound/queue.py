"""Queue one mail about an issue to one person: render, compose, remember, store.

The Message-ID is remembered with the issue (origin `outbound`) before the mail is queued, so a
reply threads onto the issue even if we crash between sending and recording that it was sent.

A tenant's custom template that fails here (over its budget, or broken for this issue's
values though it passed its check on save) fails that mail with the reason and turns the
tenant's custom templates off (`TemplateFault`), so later mail goes out with the defaults
rather than costing the shared worker the budget again. The failed mail is kept, made with
the defaults, so the admin may still send it with Retry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector import logs
from connector.outbound.compose import (
    Envelope,
    address_domain,
    compose,
    loop_header_value,
    new_message_id,
)
from connector.outbound.rendering import TemplateFailure
from connector.outbound.templates import Rendered
from connector.outbound_config import (
    ConnectionSpec,
    NotificationSettings,
    TemplateFault,
    is_address,
)
from connector.routing.match import message_id_digest
from connector.runtime import Runtime
from connector.storage.outbox import NewMessage, OutboundMessage
from connector.storage.times import utc_now
from connector.tenant import Tenant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueThread:
    """What we know of an issue's mail: its Message-IDs oldest first, and the source it came
    in through (whose address customers should answer to)."""

    message_ids: tuple[str, ...]
    source_id: int | None


def issue_thread(runtime: Runtime, tenant_id: int, issue_key: str) -> IssueThread:
    received = runtime.email_log.issue_mail(tenant_id, issue_key)
    dated = [(entry.received_at, entry.message_id) for entry in received if entry.message_id]
    dated += runtime.outbox.sent_message_ids(tenant_id, issue_key)
    dated.sort(key=lambda item: item[0])
    source_id = received[0].source_id if received else None
    return IssueThread(tuple(mid for _, mid in dated), source_id)


def reply_address(runtime: Runtime, spec: ConnectionSpec, thread: IssueThread) -> str:
    """An explicit Reply-To wins; else the mailbox the issue came in through; else From."""
    if spec.reply_to:
        return spec.reply_to
    if thread.source_id is not None:
        source = runtime.sources.find(thread.source_id)
        if source is not None and is_address(source.spec.username):
            return source.spec.username
    return spec.from_address


def issue_url(tenant: Tenant, settings: NotificationSettings, issue_key: str) -> str:
    if settings.link == "issue":
        return f"{tenant.display_url.rstrip('/')}/browse/{issue_key}"
    if settings.link:
        return settings.link.replace("{issue_key}", issue_key)
    return ""


class TenantTemplates:
    """One tenant's templates while a batch of its mail is queued (one event's recipients)."""

    def __init__(self, runtime: Runtime, tenant_id: int, settings: NotificationSettings) -> None:
        self._runtime = runtime
        self._tenant_id = tenant_id
        self._overrides = settings.templates_in_use

    def render(
        self, kind: str, context: Mapping[str, Any], *, issue_key: str
    ) -> tuple[Rendered, str]:
        """The mail's parts, and "" or why it must not be sent as it is."""
        runner = self._runtime.templates
        try:
            return runner.render(kind, context, self._overrides, tenant=self._tenant_id), ""
        except TemplateFailure as failure:
            fault = TemplateFault(failure.template, failure.reason, utc_now(), issue_key)
            self._runtime.outbound.turn_off_templates(self._tenant_id, fault)
            self._overrides = {}
            logs.event(
                log,
                "outbound.template_failed",
                logging.WARNING,
                tenant_id=self._tenant_id,
                template=failure.template,
                issue_key=issue_key,
                reason=failure.reason[:120],
            )
            error = (
                f"{failure}. The custom templates are off until the notification settings are "
                "saved again; Retry sends this mail with the default templates."
            )
        return runner.render(kind, context, {}, tenant=self._tenant_id), error


@dataclass(frozen=True)
class MailRequest:
    kind: str  # template kind: comment | status | acknowledgement
    dedupe_key: str
    issue_key: str
    recipient: str
    recipient_name: str
    context: Mapping[str, Any]
    event_id: int | None = None


def queue_mail(
    runtime: Runtime,
    tenant: Tenant,
    spec: ConnectionSpec,
    settings: NotificationSettings,
    request: MailRequest,
    *,
    thread: IssueThread,
    templates: TenantTemplates | None = None,
) -> OutboundMessage | None:
    """Queue the mail; None when the same mail (dedupe key) was queued before. `templates`:
    those of a batch under way (a template failure earlier in it turned them off)."""
    context = {
        "issue_key": request.issue_key,
        "summary": "",
        "issue_url": issue_url(tenant, settings, request.issue_key),
        "recipient_name": request.recipient_name or request.recipient,
        "recipient_address": request.recipient,
        "site_url": tenant.display_url,
        **request.context,
    }
    templates = templates or TenantTemplates(runtime, tenant.id, settings)
    rendered, error = templates.render(request.kind, context, issue_key=request.issue_key)
    message_id = new_message_id(address_domain(spec.from_address), request.issue_key)
    message = compose(
        Envelope(
            from_address=spec.from_address,
            from_name=spec.from_name,
            to_address=request.recipient,
            to_name=request.recipient_name,
            reply_to=reply_address(runtime, spec, thread),
        ),
        rendered,
        message_id=message_id,
        thread_ids=thread.message_ids,
        loop_value=loop_header_value(runtime.settings.app_key, tenant.client_key),
    )
    runtime.threads.remember(
        tenant.id, message_id_digest(message_id), request.issue_key, "outbound"
    )
    kind = "acknowledgement" if request.kind == "acknowledgement" else "notification"
    return runtime.outbox.enqueue(
        NewMessage(
            tenant_id=tenant.id,
            kind=kind,
            dedupe_key=request.dedupe_key,
            recipient=request.recipient,
            recipient_name=request.recipient_name,
            subject=rendered.subject,
            message_id=message_id,
            raw=message.as_bytes(),
            issue_key=request.issue_key,
            event_id=request.event_id,
            error=error,
        )
    )
