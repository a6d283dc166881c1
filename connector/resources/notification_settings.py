"""The notification settings, declared once: which events tell customers, the
acknowledgement, the link, templates and how long message content is kept.

`connector.outbound_config` reads the API's JSON against `SETTINGS` (names, bounds, lengths;
its messages and the nested checks of projects and templates are its own); the OpenAPI
`NotificationSettings` properties are derived from it, the template names added by the
document (they live with the templates); a unit test holds the table and the typed value to
it.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.resources.declare import Setting
from connector.resources.schema import closed_object, string

EVENTS = ("comment_created", "issue_status")
MAX_RETENTION_DAYS = 3650

_EVENTS = {"type": "array", "items": string(enum=list(EVENTS))}
_PROJECT_RULE = closed_object({"enabled": {"type": "boolean"}, "events": _EVENTS}, [])

SETTINGS: tuple[Setting, ...] = (
    Setting("enabled", "boolean", "notifications at all"),
    Setting("events", "strings", storage="json", schema=_EVENTS),
    Setting(
        "projects",
        "object",
        storage="json",
        schema={
            "type": "object",
            "description": "project key -> its own on/off and events",
            "additionalProperties": _PROJECT_RULE,
        },
    ),
    Setting("acknowledgement", "boolean", "answer mail that creates an issue"),
    Setting("acknowledgement_per_hour", "integer", minimum=1, maximum=100),
    Setting(
        "link",
        "string",
        '"", "issue" (the Jira issue) or an https:// URL with {issue_key}',
        max_length=1000,
    ),
    Setting(
        "templates",
        "object",
        storage="json",
        schema={"type": "object", "additionalProperties": {"type": "string"}},
    ),
    Setting(
        "retention_days",
        "integer",
        "days message content is kept; 0 keeps none",
        minimum=0,
        maximum=MAX_RETENTION_DAYS,
    ),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
