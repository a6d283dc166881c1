"""How a poll is connected to Jira and to the outbound side: the one place polling's parts meet.

`connector.polling` orchestrates a poll and imports neither `connector.jira` nor
`connector.outbound`; it is handed an `Inbound` built here: the pipeline for a source's mail
(the tenant's Jira tracker, its custom-field mapping, the loop header of our own
notifications) and the acknowledgement that follows a new issue. The scheduler and the admin
API's "poll now" poll through `poll_source`; tests pass their own `tracker_factory`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from connector import logs
from connector.drafts import IssueTracker, ServiceDesk
from connector.handoff import Handoff
from connector.jira.auth import api_token_site, tenant_site
from connector.jira.client import JiraClient
from connector.jira.tracker import JiraTracker
from connector.mail_fields import FieldMap
from connector.mail_source import MailSource
from connector.outbound.acknowledge import acknowledge_created
from connector.outbound.compose import loop_header_value
from connector.pipeline.process import Pipeline
from connector.polling import LEASE_SECONDS, PollResult, run_poll
from connector.runtime import Runtime
from connector.storage.outbox import OutboundMessage
from connector.storage.secrets import SecretDecryptionError
from connector.tenant import DATACENTER_SITE, Tenant
from descriptor.render import message_property_key

log = logging.getLogger(__name__)

TrackerFactory = Callable[[Runtime, Tenant], IssueTracker]


def jira_tracker(runtime: Runtime, tenant: Tenant) -> IssueTracker:
    """The app's client for everything; user lookups through the tenant's workaround user
    when one is stored (basic auth that goes only to the site's own origin, as every
    `connector.jira.auth` strategy does), the tenant's people cache across polls, and
    comments written as the sender where the site lets the app act as its users.
    A Data Center site has neither: its personal access token acts as one account, which
    searches users itself (`username=` matches addresses there) and cannot act as others."""
    app_key = runtime.settings.app_key
    sessions = runtime.jira_sessions
    site = tenant_site(tenant, app_key=app_key)
    client = JiraClient(site, session=sessions.for_site(site.base_url))
    user_client = None if tenant.kind == DATACENTER_SITE else _workaround_client(runtime, tenant)
    return JiraTracker(
        client,
        property_key=message_property_key(app_key),
        people=runtime.people.for_tenant(tenant.id),
        user_client=user_client,
        user_clients=runtime.user_tokens.clients(tenant),
        # No app descriptor indexes our issue property on a site without an install.
        marker_labels=tenant.site is not None,
    )


def _workaround_client(runtime: Runtime, tenant: Tenant) -> JiraClient | None:
    """A client signed in as the tenant's workaround user (a Jira Cloud API token), if set."""
    try:
        workaround = runtime.tenant_settings.workaround_user(tenant.id)
    except SecretDecryptionError:
        logs.event(log, "jira.workaround_user_unreadable", logging.ERROR, tenant_id=tenant.id)
        return None
    if workaround is None:
        return None
    site = api_token_site(tenant.base_url, email=workaround.email, api_token=workaround.api_token)
    return JiraClient(site, session=runtime.jira_sessions.for_site(site.base_url))


def outbound_from(runtime: Runtime, tenant_id: int) -> tuple[str, ...]:
    """The address our notifications are sent from, if the tenant set one: mail claiming
    its domain that is not authenticated is never trusted (issue 15)."""
    stored = runtime.outbound.connection(tenant_id)
    return (stored.spec.from_address,) if stored and stored.spec.from_address else ()


def tenant_field_map(runtime: Runtime, tenant_id: int) -> FieldMap:
    """The tenant's custom-field mapping (admin API `settings/fields`) as the pipeline uses it."""
    mapping = runtime.tenant_settings.field_mapping(tenant_id)
    return FieldMap(
        sender_name=mapping["sender_name"],
        sender_address=mapping["sender_address"],
        recipients=mapping["recipients"],
        language=mapping["language"],
    )


@dataclass(frozen=True)
class JiraInbound:
    """`connector.polling.Inbound` for the running app: Jira through `tracker_factory`."""

    runtime: Runtime
    tracker_factory: TrackerFactory = jira_tracker
    # Called when a new issue's acknowledgement was queued to send (the SQLite scheduler's
    # round then sends it at once, not at its next tick).
    mail_queued: Callable[[], None] | None = None

    def pipeline(self, source: MailSource, tenant: Tenant) -> Pipeline:
        runtime = self.runtime
        tracker = self.tracker_factory(runtime, tenant)
        return Pipeline(
            tracker=tracker,
            email_log=runtime.email_log,
            threads=runtime.threads,
            participants=runtime.participants,
            field_map=tenant_field_map(runtime, source.tenant_id),
            service_desk=tracker if isinstance(tracker, ServiceDesk) else None,
            # Our own notifications coming back are dropped as a loop (connector.outbound).
            loop_header_value=loop_header_value(runtime.settings.app_key, tenant.client_key),
            reader=runtime.reader,
            key_lookup=runtime.key_lookup,
            own_addresses=outbound_from(runtime, source.tenant_id),
        )

    def issue_created(self, tenant: Tenant, issue_key: str) -> OutboundMessage | None:
        queued = acknowledge_created(self.runtime, tenant, issue_key)
        if queued is not None and self.mail_queued is not None:
            self.mail_queued()
        return queued

    def jira_pending(self, tenant: Tenant) -> str | None:
        return tenant_site(tenant, app_key=self.runtime.settings.app_key).pending_reason()


def poll_source(
    runtime: Runtime,
    source_id: int,
    *,
    owner: str,
    limit: int = 500,
    tracker_factory: TrackerFactory = jira_tracker,
    lease_seconds: float = LEASE_SECONDS,
    handoff: Handoff | None = None,
    mail_queued: Callable[[], None] | None = None,
) -> PollResult:
    """One poll of the source (`connector.polling.run_poll`), connected to Jira; with a
    `handoff` it only fetches, and the jobs it queues deliver. `mail_queued`: called when
    the poll queued mail to send (`JiraInbound.mail_queued`)."""
    inbound = JiraInbound(runtime, tracker_factory, mail_queued)
    return run_poll(
        runtime,
        source_id,
        inbound,
        owner=owner,
        limit=limit,
        lease_seconds=lease_seconds,
        handoff=handoff,
    )
