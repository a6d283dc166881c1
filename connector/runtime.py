"""Everything a running app or worker shares, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from connector.budget import Budget
from connector.connect.install import InstallKeyStore
from connector.forge.jwks import ForgeKeyStore
from connector.jira.impersonation import DEFAULT_AUTHORIZATION_SERVER_URL, UserTokens
from connector.jira.limiter import SiteLimiter
from connector.jira.people import PeopleCache
from connector.jira.session import SiteSessions
from connector.net.dkim_keys import lookup_dkim_key
from connector.net.hosts import HostPolicy, Network, SystemNetwork
from connector.outbound.rendering import TEMPLATE_BUDGET, TemplateRunner, template_runner
from connector.pipeline.reading import MessageReader, reader_for
from connector.pipeline.sender_check import CachedKeyLookup
from connector.senders.signatures import KeyLookup
from connector.settings import Settings
from connector.storage.db import Engine, database_answers, make_engine
from connector.storage.deliveries import Deliveries
from connector.storage.email_log import EmailLog
from connector.storage.forge_installations import ForgeInstallationRepository
from connector.storage.graph_subscriptions import GraphSubscriptionRepository
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import Outbox
from connector.storage.process_limits import limit_store
from connector.storage.secrets import SecretBox
from connector.storage.sites import SiteRepository
from connector.storage.sources import SourceRepository
from connector.storage.tenant_settings import TenantSettingsRepository
from connector.storage.tenants import TenantRepository
from connector.storage.threads import ParticipantRepository, ThreadRepository
from connector.storage.webhook_events import WebhookEvents


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    secrets: SecretBox
    tenants: TenantRepository
    install_keys: InstallKeyStore
    sources: SourceRepository
    email_log: EmailLog
    # The email log's side of delivery as separate work (the queue engine, issue 17).
    deliveries: Deliveries
    threads: ThreadRepository
    participants: ParticipantRepository
    tenant_settings: TenantSettingsRepository
    # Outbound mail: each tenant's connection and notification settings, the mail queued and
    # sent, and the Jira webhook events it is made from (connector.outbound).
    outbound: OutboundRepository
    outbox: Outbox
    webhook_events: WebhookEvents
    # Jira users by address, per tenant, shared by every poll (connector.jira.people).
    people: PeopleCache
    # Access tokens of the sites' users, for comments written as the sender
    # (connector.jira.impersonation); it also names the authorization server to ask.
    user_tokens: UserTokens
    # Reads every message in worker processes, within the settings' budget
    # (connector.pipeline.reading).
    reader: MessageReader
    # Where mail sources and SMTP may connect (ALLOWED_INTERNAL_HOSTS; connector.net).
    host_policy: HostPolicy
    # Renders tenants' templates in worker processes (connector.outbound.rendering).
    templates: TemplateRunner
    # Keys of Forge Invocation Tokens (FORGE_JWKS_URL; connector.forge.jwks).
    forge_keys: ForgeKeyStore
    # Jira's rate limits shared by every worker through the database: pauses Jira asked for
    # and JIRA_SITE_CONCURRENCY requests in flight per site (connector.jira.limiter). Every
    # `JiraClient` of the engine is given it.
    jira_limiter: SiteLimiter
    # One HTTP session per Jira site for the engine's calls, kept between polls
    # (connector.jira.session.SiteSessions), behind `jira_limiter`.
    jira_sessions: SiteSessions
    # Forge installations, the tenants they are and their system tokens.
    forge_installations: ForgeInstallationRepository
    # DKIM keys for sender authentication (connector.senders): DNS, cached; tests supply a table.
    key_lookup: KeyLookup
    # Microsoft Graph change-notification subscriptions of Graph sources (connector.push).
    graph_subscriptions: GraphSubscriptionRepository
    # Sites connected without an app install (`connector site add`, connector.sites).
    sites: SiteRepository

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        authorization_server_url: str = DEFAULT_AUTHORIZATION_SERVER_URL,
        network: Network | None = None,
        template_budget: Budget = TEMPLATE_BUDGET,
        key_lookup: KeyLookup = lookup_dkim_key,
    ) -> Runtime:
        """`authorization_server_url` is Atlassian's for every deployment; it is a parameter,
        not a setting, so tests can point it at a fake one on loopback. `network` (the
        system's resolver and sockets) likewise, so tests answer host names themselves; and
        `template_budget`, so tests of hostile templates need not wait for the real one."""
        engine = engine or make_engine(settings.database_url, jobs=settings.worker_concurrency)
        secrets = SecretBox(settings.encryption_keys)
        jira_limiter = SiteLimiter(
            limit_store(engine), slots_per_site=settings.jira_site_concurrency
        )
        return cls(
            settings=settings,
            engine=engine,
            secrets=secrets,
            tenants=TenantRepository(engine, secrets),
            install_keys=InstallKeyStore(settings.connect_install_keys_url),
            sources=SourceRepository(engine, secrets),
            email_log=EmailLog(engine, secrets),
            deliveries=Deliveries(engine, secrets),
            threads=ThreadRepository(engine),
            participants=ParticipantRepository(engine),
            tenant_settings=TenantSettingsRepository(engine, secrets),
            outbound=OutboundRepository(engine, secrets),
            outbox=Outbox(engine, secrets),
            webhook_events=WebhookEvents(engine),
            people=PeopleCache(),
            user_tokens=UserTokens(authorization_server_url, limiter=jira_limiter),
            reader=reader_for(settings.reading),
            host_policy=HostPolicy(settings.internal_hosts, network or SystemNetwork()),
            templates=template_runner(template_budget),
            forge_keys=ForgeKeyStore(settings.forge_jwks_url),
            jira_limiter=jira_limiter,
            jira_sessions=SiteSessions(jira_limiter),
            forge_installations=ForgeInstallationRepository(
                engine, secrets, app_key=settings.app_key
            ),
            key_lookup=CachedKeyLookup(key_lookup),
            graph_subscriptions=GraphSubscriptionRepository(engine),
            sites=SiteRepository(engine, secrets, app_key=settings.app_key),
        )

    def database_answers(self) -> bool:
        return database_answers(self.engine)
