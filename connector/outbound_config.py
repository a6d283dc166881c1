"""What a tenant configured for outbound mail, validated: the connection and the notifications.

Every refusal is an `OutboundConfigError` naming the input at fault, as the admin API spells
it, so a page can show the message beside that input.

Pure values, kept outside the `outbound` package: `connector.storage` stores them, and
`outbound` uses storage, so here neither package imports the other back (`tests/unit/
test_seams.py` checks that packages import no cycle).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from connector.resources.declare import PROJECT_KEY_PATTERN, names
from connector.resources.notification_settings import BY_NAME as NOTIFICATION
from connector.resources.notification_settings import EVENTS
from connector.resources.notification_settings import SETTINGS as NOTIFICATION_SETTINGS
from connector.resources.outbound_connection import AUTH_METHODS, BY_NAME, SECURITY, TRANSPORTS
from connector.resources.outbound_connection import SETTINGS as CONNECTION_SETTINGS

__all__ = [
    "AUTH_METHODS",
    "EVENTS",
    "SECURITY",
    "TRANSPORTS",
    "ConnectionSpec",
    "NotificationSettings",
]
DEFAULT_EVENTS = EVENTS
DEFAULT_RETENTION_DAYS = 30
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)


class OutboundConfigError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))


@dataclass(frozen=True)
class ConnectionSpec:
    """How mail leaves: the server or Graph, how we sign in, and who the mail is from."""

    transport: str = "smtp"
    auth: str = "password"
    host: str = ""
    port: int = 587
    security: str = "starttls"
    verify_tls: bool = True
    username: str = ""
    source_id: int | None = None
    from_address: str = ""
    from_name: str = ""
    reply_to: str = ""
    timeout_seconds: int = 30
    enabled: bool = True

    @property
    def login(self) -> str:
        """The name we sign in with: the username, else the From address."""
        return self.username or self.from_address

    def password_endpoint(self) -> tuple[str, str, int, str, bool, str]:
        """Where a password goes and as whom. A stored password is only ever sent to the
        endpoint it was saved with: anything else could hand it, in clear text, to another
        server (a typo, or a stolen admin token probing for the mailbox password)."""
        return (
            self.transport,
            self.host.lower().rstrip("."),
            self.port,
            self.security,
            self.verify_tls,
            self.login.lower(),
        )

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ANSWERED}


_ANSWERED = names(CONNECTION_SETTINGS, write_only=False)  # the password is write-only
_CONNECTION_FIELDS = set(names(CONNECTION_SETTINGS))


def connection_from_json(data: Mapping[str, Any], *, has_password: bool) -> ConnectionSpec:
    """A connection from the API's JSON; `has_password`: one is stored or sent alongside."""
    unknown = sorted(set(data) - _CONNECTION_FIELDS)
    if unknown:
        raise OutboundConfigError(unknown[0], "is not a setting of the outbound connection")
    transport = _choice(data, "transport", TRANSPORTS, "smtp")
    auth = _choice(data, "auth", AUTH_METHODS, "oauth" if transport == "graph" else "password")
    security = _choice(data, "security", SECURITY, "starttls")
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
    values: dict[str, Any] = {"transport": transport, "auth": auth, "security": security}
    for name in _ANSWERED:  # in the declaration's order: the first input at fault is named
        if name in values:
            continue
        setting, default = BY_NAME[name], _CONNECTION_DEFAULTS[name]
        if name == "port":
            values[name] = _integer(data, name, *setting.bounds(), default_port)
        elif name == "source_id":
            values[name] = _optional_id(data, name)
        elif setting.kind == "string":
            values[name] = _text(data, name, setting.max_length or 0).strip()
        elif setting.kind == "integer":
            values[name] = _integer(data, name, *setting.bounds(), default)
        else:
            values[name] = _boolean(data, name, default)
    spec = ConnectionSpec(**values)
    if not is_address(spec.from_address):
        raise OutboundConfigError("from_address", "must be an email address mail is sent from")
    if spec.reply_to and not is_address(spec.reply_to):
        raise OutboundConfigError("reply_to", "must be an email address or empty")
    if any(c in spec.from_name for c in "\r\n"):
        raise OutboundConfigError("from_name", "must be one line")
    if spec.transport == "graph":
        if spec.auth != "oauth":
            raise OutboundConfigError("auth", "Graph sendMail signs in with a source's OAuth")
    elif not spec.host:
        raise OutboundConfigError("host", "is required for SMTP")
    else:
        check_host(spec.host)
    if spec.auth == "oauth" and spec.source_id is None:
        raise OutboundConfigError("source_id", "name the mail source whose sign-in sends mail")
    if spec.auth == "password":
        if not spec.username:
            raise OutboundConfigError("username", "is required to sign in with a password")
        if not has_password:
            raise OutboundConfigError("password", "is required to sign in with a password")
    return spec


_CONNECTION_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(ConnectionSpec)}


def check_host(host: str) -> None:
    """Refuse a server name that cannot be looked up: an empty label (`smtp..example.com`),
    a label over 63 characters (RFC 1035 2.3.4), spaces. The name is IDNA-encoded as the
    resolver will do it, so an international name is fine and a broken one is refused here,
    in words, rather than failing every send later."""
    if any(c.isspace() or c in "/\\@:" for c in host) and not _is_ipv6(host):
        raise OutboundConfigError("host", f"{host!r} is not a server name or IP address")
    if _is_ipv6(host):
        return
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError:
        raise OutboundConfigError(
            "host",
            f"{host!r} is not a valid server name (a part between dots is empty or longer "
            "than 63 characters)",
        ) from None
    if not encoded or len(encoded) > 253:
        raise OutboundConfigError("host", "a server name is at most 253 characters")


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


# OAuth tokens open the whole mailbox, so they are only ever sent to the provider's own
# submission server, over verified TLS ("Gmail SMTP": smtp.gmail.com; Microsoft Learn,
# "Authenticated client SMTP submission": smtp.office365.com).
OAUTH_SMTP_HOSTS: Mapping[str, str] = {
    "google": "smtp.gmail.com",
    "microsoft": "smtp.office365.com",
}


def oauth_smtp_problem(spec: ConnectionSpec, provider: str | None) -> OutboundConfigError | None:
    """Why `spec` may not send a `provider` OAuth token over SMTP, or None when it may."""
    if spec.transport != "smtp" or spec.auth != "oauth":
        return None
    wanted = OAUTH_SMTP_HOSTS.get(provider or "")
    if wanted is None:
        return OutboundConfigError(
            "source_id", "OAuth over SMTP works with a source signed in to Google or Microsoft"
        )
    if spec.host.lower().rstrip(".") != wanted:
        return OutboundConfigError(
            "host", f"an OAuth sign-in to {provider} sends mail only through {wanted}"
        )
    if spec.security == "none" or not spec.verify_tls:
        return OutboundConfigError(
            "verify_tls",
            "an OAuth sign-in is sent only over TLS with the certificate checked "
            "(security ssl or starttls, verify_tls true)",
        )
    return None


@dataclass(frozen=True)
class ProjectRule:
    enabled: bool = True
    events: tuple[str, ...] = DEFAULT_EVENTS


@dataclass(frozen=True)
class TemplateFault:
    """A custom template failed (over its budget, or broken) while mail was being sent. The
    tenant's custom templates are then off, and the defaults used, until an admin saves the
    settings again: the failure may come back with every mail, and each try would cost the
    shared worker the template budget."""

    template: str
    reason: str
    at: datetime
    issue_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "issue_key": self.issue_key,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateFault:
        return cls(
            template=str(data.get("template") or ""),
            reason=str(data.get("reason") or ""),
            at=datetime.fromisoformat(str(data["at"])),
            issue_key=data.get("issue_key") or None,
        )


@dataclass(frozen=True)
class NotificationSettings:
    """Which events tell customers, per project; the acknowledgement; templates; retention.
    `template_fault` is not a setting but the state of the templates (see `TemplateFault`)."""

    enabled: bool = True
    events: tuple[str, ...] = DEFAULT_EVENTS
    projects: Mapping[str, ProjectRule] = field(default_factory=dict)
    acknowledgement: bool = False
    acknowledgement_per_hour: int = 3
    link: str = ""
    templates: Mapping[str, str] = field(default_factory=dict)
    retention_days: int = DEFAULT_RETENTION_DAYS
    template_fault: TemplateFault | None = None

    @property
    def templates_in_use(self) -> Mapping[str, str]:
        """The custom templates mail is rendered with: none while they are off."""
        return {} if self.template_fault is not None else self.templates

    def notifies(self, project_key: str, event: str) -> str | None:
        """None when this event in this project tells customers, else the reason why not."""
        if not self.enabled:
            return "notifications are off for this site"
        rule = self.projects.get(project_key)
        if rule is not None:
            if not rule.enabled:
                return f"notifications are off for project {project_key}"
            events = rule.events
        else:
            events = self.events
        if event not in events:
            return f"{event} notifications are off" + (f" for {project_key}" if rule else "")
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "events": list(self.events),
            "projects": {
                key: {"enabled": rule.enabled, "events": list(rule.events)}
                for key, rule in sorted(self.projects.items())
            },
            "acknowledgement": self.acknowledgement,
            "acknowledgement_per_hour": self.acknowledgement_per_hour,
            "link": self.link,
            "templates": dict(self.templates),
            "retention_days": self.retention_days,
        }


_SETTINGS_FIELDS = set(names(NOTIFICATION_SETTINGS))


def settings_from_json(data: Mapping[str, Any]) -> NotificationSettings:
    """Settings from the API's JSON; left out: the default. Templates are checked elsewhere
    (`connector.outbound.templates.check_templates`), since that needs Jinja2."""
    unknown = sorted(set(data) - _SETTINGS_FIELDS)
    if unknown:
        raise OutboundConfigError(unknown[0], "is not a notification setting")
    projects_raw = data.get("projects", {})
    if not isinstance(projects_raw, Mapping):
        raise OutboundConfigError("projects", "must be an object: project key -> settings")
    projects: dict[str, ProjectRule] = {}
    for key, rule in projects_raw.items():
        name = f"projects.{key}"
        if not isinstance(key, str) or not _PROJECT_KEY.match(key):
            raise OutboundConfigError(name, "is not a project key")
        if not isinstance(rule, Mapping) or set(rule) - {"enabled", "events"}:
            raise OutboundConfigError(name, 'must be {"enabled": true|false, "events": [...]}')
        projects[key] = ProjectRule(
            enabled=_boolean(rule, "enabled", True, name=f"{name}.enabled"),
            events=_events(rule, f"{name}.events"),
        )
    templates_raw = data.get("templates", {})
    if not isinstance(templates_raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in templates_raw.items()
    ):
        raise OutboundConfigError("templates", "must be an object: template name -> text")
    link = _text(data, "link", NOTIFICATION["link"].max_length or 0).strip()
    if link not in ("", "issue") and not (link.startswith("https://") and "{issue_key}" in link):
        raise OutboundConfigError(
            "link", 'must be empty, "issue", or an https:// URL containing {issue_key}'
        )
    return NotificationSettings(
        enabled=_boolean(data, "enabled", True),
        events=_events(data, "events"),
        projects=projects,
        acknowledgement=_boolean(data, "acknowledgement", False),
        acknowledgement_per_hour=_integer(
            data, "acknowledgement_per_hour", *NOTIFICATION["acknowledgement_per_hour"].bounds(), 3
        ),
        link=link,
        templates={k: v for k, v in templates_raw.items() if v.strip()},
        retention_days=_integer(
            data, "retention_days", *NOTIFICATION["retention_days"].bounds(), DEFAULT_RETENTION_DAYS
        ),
    )


# -- readers -----------------------------------------------------------------------------


def _choice(data: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value not in choices:
        raise OutboundConfigError(name, f"must be one of {', '.join(choices)}")
    return str(value)


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OutboundConfigError(name, "must be text")
    if len(value) > limit:
        raise OutboundConfigError(name, f"must be at most {limit} characters")
    return value


def _integer(data: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OutboundConfigError(name, f"must be a whole number from {low} to {high}")
    return int(value)


def _boolean(data: Mapping[str, Any], key: str, default: bool, *, name: str = "") -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise OutboundConfigError(name or key, "must be true or false")
    return value


def _optional_id(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OutboundConfigError(name, "must be the id of a mail source")
    return int(value)


def _events(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name.rsplit(".", 1)[-1], list(DEFAULT_EVENTS))
    if not isinstance(value, list) or any(item not in EVENTS for item in value):
        raise OutboundConfigError(name, f"must be a list of {', '.join(EVENTS)}")
    return tuple(dict.fromkeys(value))
