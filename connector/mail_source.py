"""A tenant's mail source as the engine sees it: what an admin set, and where polling stands.

`SourceSpec` is what the admin API edits (validated here, so the API, the CLI and tests share
one set of rules and every error names its field); `MailSource` adds the stored identity and
state. Connection settings are checked by `connector.sources.SourceConfig` itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal, get_args

from connector.net.hosts import PUBLIC_ONLY, HostPolicy
from connector.resources.address_rule import RULE_POLICY_SETTINGS
from connector.resources.declare import PROJECT_KEY_PATTERN
from connector.resources.mail_source import BY_NAME, Unmatched, Unrouted
from connector.resources.source_policy import BY_NAME as POLICY_BY_NAME
from connector.routing.addresses import AddressRule
from connector.sources.config import AccessTokenProvider, MailboxSettings, SourceConfig
from connector.sources.errors import SourceConfigError

SourceStatus = Literal["unknown", "ok", "error", "disabled"]

_PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)
# A BCP 47 language tag (RFC 5646 2.1): language, optional script, region and variants, e.g.
# en, de-CH, zh-Hant-TW, sl-rozaj. Extensions and private use are not needed for this setting.
_LANGUAGE_TAG = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
DEFAULT_RATE_LIMIT_PER_HOUR = 20


@dataclass(frozen=True)
class FieldMapping:
    """Copy an email property into a Jira field: `source` is `sender`, `sender_name`,
    `recipients`, `subject`, `header:<Name>` or `body:<Key>` (a `Key: value` line)."""

    source: str
    field_id: str

    def __post_init__(self) -> None:
        simple = {"sender", "sender_name", "recipients", "cc", "subject"}
        prefix, _, rest = self.source.partition(":")
        if self.source not in simple and not (prefix in {"header", "body"} and rest.strip()):
            raise SourceConfigError(
                "field_mappings",
                f"{self.source!r} is not an email property: use one of {sorted(simple)}, "
                "header:<Name> or body:<Key>",
            )
        if not self.field_id.strip():
            raise SourceConfigError("field_mappings", "each mapping needs a Jira field id")


@dataclass(frozen=True)
class SourcePolicy:
    """How the pipeline treats this source's mail (issue 5's per-source rules).

    `language` is the source's default language, a BCP 47 tag such as `en` or `de-CH`
    (validated here). Mail carries no reliable language of its own (Content-Language is rare
    and often wrong), so it is a per-source setting: every issue created from this source gets
    it in the custom field mapped to the `language` role in the tenant settings, and nothing
    is written when no field is mapped.

    `sender_verification` (issue 15): whether a sender's Jira account may speak for a message
    that is not authenticated (`connector.senders.policy`); `trusted_authserv_ids` names the
    receiving servers whose Authentication-Results the source believes.

    `jsm_customers`: in a Jira Service Management project, make a sender without a Jira
    account a customer (and the reporter) and add Cc'd people as request participants
    (`connector.jsm`). Off by default, since it creates accounts on the site.
    """

    subject_projects: tuple[str, ...] = ()  # keys matched in subjects; empty = the source's
    comment_issue_types: tuple[str, ...] = ()  # types that accept mail comments; empty = all
    ignored_senders: tuple[str, ...] = ()  # addresses or fragments such as "@spam.example"
    allowed_domains: tuple[str, ...] = ()  # empty = every domain
    drop_automatic: bool = True  # auto-replies, bounces, feedback reports
    rate_limit_per_hour: int = DEFAULT_RATE_LIMIT_PER_HOUR  # per sender, against loops
    default_reporter: str | None = None  # account id when the sender has no Jira account
    default_assignee: str | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    language: str | None = None
    skip_images_below_bytes: int = 0  # tiny signature images are not attached when > 0
    field_defaults: Mapping[str, Any] = field(default_factory=dict)
    field_mappings: tuple[FieldMapping, ...] = ()
    jsm_customers: bool = False
    sender_verification: str = "verify"  # `connector.senders.policy.SenderVerification`
    trusted_authserv_ids: tuple[str, ...] = ()  # empty: `connector.senders.trusted` presets

    def __post_init__(self) -> None:
        choices = POLICY_BY_NAME["sender_verification"].choices
        if self.sender_verification not in choices:
            raise SourceConfigError("sender_verification", f"must be one of {', '.join(choices)}")
        for key in self.subject_projects:
            _check_project_key("subject_projects", key)
        low, high = POLICY_BY_NAME["rate_limit_per_hour"].bounds()
        if not low <= self.rate_limit_per_hour <= high:
            raise SourceConfigError("rate_limit_per_hour", f"must be from {low} (off) to {high}")
        if self.skip_images_below_bytes < 0:
            raise SourceConfigError("skip_images_below_bytes", "must not be negative")
        for label in self.labels:
            if not label or any(ch.isspace() for ch in label):
                raise SourceConfigError("labels", f"{label!r}: Jira labels have no spaces")
        if self.language is not None and not self.language.strip():
            object.__setattr__(self, "language", None)  # a form's empty input: no language
        if self.language is not None and not _LANGUAGE_TAG.match(self.language):
            raise SourceConfigError(
                "language", f"{self.language!r} is not a BCP 47 language tag (e.g. en, de-CH)"
            )

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["field_mappings"] = [
            {"source": m.source, "field_id": m.field_id} for m in self.field_mappings
        ]
        data["field_defaults"] = dict(self.field_defaults)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def with_overrides(self, overrides: Mapping[str, Any]) -> SourcePolicy:
        """This policy with some settings replaced (an address rule's defaults), validated."""
        return SourcePolicy.from_json({**self.to_json(), **overrides})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourcePolicy:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SourceConfigError(sorted(unknown)[0], "is not a source policy setting")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "field_mappings":
                values[name] = tuple(
                    FieldMapping(str(item["source"]), str(item["field_id"])) for item in value
                )
            elif isinstance(value, list):
                values[name] = tuple(str(item) for item in value)
            else:
                values[name] = value
        try:
            return cls(**values)
        except TypeError as exc:
            raise SourceConfigError("policy", str(exc)) from None


@dataclass(frozen=True)
class SourceSpec(MailboxSettings):
    """Everything an admin sets on a source: the mailbox (`MailboxSettings`, shared with the
    adapters' `SourceConfig`) and what becomes of its mail. Secrets are write-only and kept out
    of `repr`."""

    name: str
    project_key: str
    issue_type: str
    password: str | None = field(default=None, repr=False)
    description: str = ""
    provider: str = "custom"
    interval_minutes: int = 1
    push: bool = True
    unmatched: Unmatched = "create"
    policy: SourcePolicy = field(default_factory=SourcePolicy)
    uses_oauth: bool = False
    # Address routing (connector.pipeline.routes): ordered rules, the plus-address allow-list,
    # and what mail no rule matches does (`source`: the source's project above; `ignore`).
    address_rules: tuple[AddressRule, ...] = ()
    plus_projects: tuple[str, ...] = ()
    unrouted: Unrouted = "source"

    def __post_init__(self) -> None:
        longest_name = BY_NAME["name"].max_length or 0
        if not self.name.strip() or len(self.name) > longest_name:
            raise SourceConfigError("name", f"is required (at most {longest_name} characters)")
        longest_description = BY_NAME["description"].max_length or 0
        if len(self.description) > longest_description:
            raise SourceConfigError("description", f"is at most {longest_description} characters")
        low, high = BY_NAME["interval_minutes"].bounds()
        if not low <= self.interval_minutes <= high:
            raise SourceConfigError("interval_minutes", f"must be from {low} to {high}")
        _check_project_key("project_key", self.project_key)
        if not self.issue_type.strip():
            raise SourceConfigError("issue_type", "is required")
        if self.unmatched not in get_args(Unmatched):
            raise SourceConfigError("unmatched", "must be create or ignore")
        self._check_routing()
        # The connection rules live with the adapters; a placeholder secret lets them check
        # everything else when the password is kept from before or comes from OAuth.
        self.connection_config(
            password=self.password or "unchanged",
            access_token=(lambda: "token") if self.uses_oauth else None,
        )

    def _check_routing(self) -> None:
        for key in self.plus_projects:
            _check_project_key("plus_projects", key)
        if self.unrouted not in get_args(Unrouted):
            raise SourceConfigError("unrouted", "must be source or ignore")
        if self.unrouted == "ignore" and not (self.address_rules or self.plus_projects):
            raise SourceConfigError(
                "unrouted", "ignore needs address rules or plus_projects, or all mail is ignored"
            )
        for index, rule in enumerate(self.address_rules):
            name = f"address_rules[{index}].defaults"
            unknown = sorted(set(rule.defaults) - RULE_POLICY_SETTINGS)
            if unknown:
                raise SourceConfigError(
                    f"{name}.{unknown[0]}",
                    f"an address rule may set only {', '.join(sorted(RULE_POLICY_SETTINGS))}",
                )
            try:
                self.policy.with_overrides(rule.defaults)
            except SourceConfigError as exc:
                field = name if exc.field == "policy" else f"{name}.{exc.field}"
                raise SourceConfigError(field, exc.problem) from None
            except (TypeError, KeyError, ValueError) as exc:
                raise SourceConfigError(name, f"not valid settings: {exc}") from None

    def connection_config(
        self,
        *,
        password: str | None,
        access_token: AccessTokenProvider | None = None,
        source_id: str = "",
        host_policy: HostPolicy = PUBLIC_ONLY,
    ) -> SourceConfig:
        """`host_policy`: where the connection may go; the app passes `Runtime.host_policy`."""
        mailbox = {f.name: getattr(self, f.name) for f in fields(MailboxSettings)}
        return SourceConfig(
            **mailbox,
            password=None if access_token else password,
            access_token=access_token,
            source_id=source_id,
            host_policy=host_policy,
        )

    def with_changes(self, **changes: Any) -> SourceSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class MailSource:
    id: int
    tenant_id: int
    client_key: str
    spec: SourceSpec
    has_password: bool
    enabled: bool
    status: str
    status_message: str
    status_at: datetime | None
    cursor: str | None
    first_connected_at: datetime | None
    consecutive_failures: int
    next_poll_at: datetime | None
    last_poll_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # How mail arrives, as the worker's push watcher last wrote it (`PushState.describe`).
    receives: str = ""

    @property
    def label(self) -> str:
        """How logs name the source: its id, never the account's address."""
        return f"source-{self.id}"

    def with_filters_off(self) -> MailSource:
        """The source as it processes a message an admin asked to process anyway: no sender
        is ignored, every domain allowed, automatic mail kept, no per-sender rate limit."""
        policy = replace(
            self.spec.policy,
            ignored_senders=(),
            allowed_domains=(),
            drop_automatic=False,
            rate_limit_per_hour=0,
        )
        return replace(self, spec=self.spec.with_changes(policy=policy))


def _check_project_key(name: str, value: str) -> None:
    if not isinstance(value, str) or not _PROJECT_KEY.match(value):
        raise SourceConfigError(name, f"{value!r} is not a Jira project key (e.g. SUP)")
