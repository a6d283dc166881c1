"""Render `descriptor/atlassian-connect.json` for this deployment.

The template is the single source of the lifecycle and webhook URLs: the web app mounts its
handlers at the paths declared there, so the two cannot drift apart.

Scopes (developer.atlassian.com/cloud/jira/platform/scopes-for-connect-apps/), each needed:
- READ: look up projects, issue types, create metadata, fields and users by email address;
  search issues by the message-id entity property to heal a crash between create and commit.
- WRITE: create issues from new mail, add comments for replies, upload attachments, set the
  message-id issue property.
- ACT_AS_USER: write a reply's comment as the Jira user who sent the mail (Connect user
  impersonation, `connector.jira.impersonation`), so its author is that person rather than the
  app; issues get them as reporter through the `reporter` field.
- ADMIN: create Jira Service Management customers for new senders and add Cc'd customers as
  request participants (JSM requires admin scope), and create the custom fields for non-Jira
  sender name, address and recipients from the set-up wizard.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_PATH = Path(__file__).with_name("atlassian-connect.json")


def message_property_key(app_key: str) -> str:
    """Issue entity property the pipeline stamps with the Message-ID digest.

    Prefixed with the app key so a staging app and a production app never read each other's
    stamps on the same site.
    """
    return f"{app_key}-message"


@cache
def _template() -> dict[str, Any]:
    loaded = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError("descriptor template must be a JSON object")
    return loaded


def render_descriptor(*, base_url: str, app_key: str) -> dict[str, Any]:
    values = {
        "{{BASE_URL}}": base_url.rstrip("/"),
        "{{APP_KEY}}": app_key,
        "{{MESSAGE_PROPERTY_KEY}}": message_property_key(app_key),
    }
    return substitute(_template(), values)  # type: ignore[no-any-return]


def lifecycle_paths() -> dict[str, str]:
    """Lifecycle event name -> path below BASE_URL, as the template declares them."""
    lifecycle = _template().get("lifecycle", {})
    return {str(event): str(path) for event, path in lifecycle.items()}


def webhook_paths() -> dict[str, str]:
    """Jira webhook event -> path below BASE_URL, as the template declares them."""
    webhooks = _template().get("modules", {}).get("webhooks", [])
    return {str(hook["event"]): str(hook["url"]) for hook in webhooks}


def page_paths() -> list[str]:
    """Paths of the pages Jira shows in iframes (query templates removed)."""
    modules = _template().get("modules", {})
    pages: list[dict[str, Any]] = [
        *modules.get("adminPages", []),
        *modules.get("jiraProjectAdminTabPanels", []),
    ]
    if "configurePage" in modules:
        pages.append(modules["configurePage"])
    return sorted({str(page["url"]).split("?", 1)[0] for page in pages})


def substitute(value: Any, values: dict[str, str]) -> Any:
    """`value` with every `{{PLACEHOLDER}}` in its strings replaced (lists and objects walked)."""
    if isinstance(value, str):
        for placeholder, replacement in values.items():
            value = value.replace(placeholder, replacement)
        return value
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    return value
