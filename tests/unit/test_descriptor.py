"""The Connect descriptor (descriptor/atlassian-connect.json, descriptor/render.py)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from descriptor.render import (
    lifecycle_paths,
    message_property_key,
    page_paths,
    render_descriptor,
    webhook_paths,
)
from tests.shared import shared_path

BASE_URL = "https://mail.example.com/connector"


@pytest.fixture(scope="module")
def descriptor() -> dict[str, Any]:
    return render_descriptor(base_url=BASE_URL, app_key="mail-connector")


def test_descriptor_validates_against_connect_schema(descriptor: dict[str, Any]) -> None:
    schema = json.loads(shared_path("specs", "connect-descriptor.schema.json").read_text())
    jsonschema.Draft4Validator(schema).validate(descriptor)


def test_descriptor_schema_rejects_a_broken_descriptor(descriptor: dict[str, Any]) -> None:
    # The check above must be able to fail: an unknown apiMigration is refused by the schema.
    schema = json.loads(shared_path("specs", "connect-descriptor.schema.json").read_text())
    broken = {**descriptor, "apiMigrations": {"signed-install": "yes"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)


def test_descriptor_has_no_placeholder_left(descriptor: dict[str, Any]) -> None:
    assert "{{" not in json.dumps(descriptor)
    assert descriptor["baseUrl"] == BASE_URL
    assert descriptor["key"] == "mail-connector"


def test_descriptor_declares_jwt_and_migrations(descriptor: dict[str, Any]) -> None:
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiMigrations"]["signed-install"] is True
    assert descriptor["apiMigrations"]["context-qsh"] is True


def test_descriptor_declares_needed_scopes(descriptor: dict[str, Any]) -> None:
    assert set(descriptor["scopes"]) == {"READ", "WRITE", "ACT_AS_USER", "ADMIN"}


def test_descriptor_declares_all_lifecycle_events(descriptor: dict[str, Any]) -> None:
    assert set(descriptor["lifecycle"]) == {"installed", "uninstalled", "enabled", "disabled"}
    assert lifecycle_paths() == descriptor["lifecycle"]


def test_descriptor_declares_the_three_webhooks(descriptor: dict[str, Any]) -> None:
    events = {hook["event"] for hook in descriptor["modules"]["webhooks"]}
    assert events == {"comment_created", "jira:issue_updated", "jira:issue_deleted"}
    assert set(webhook_paths()) == events


def test_descriptor_declares_admin_and_project_settings_pages(
    descriptor: dict[str, Any],
) -> None:
    modules = descriptor["modules"]
    assert modules["adminPages"][0]["url"] in [p for p in page_paths()]
    assert modules["jiraProjectAdminTabPanels"][0]["url"].startswith("/pages/project-settings?")
    assert "/pages/project-settings" in page_paths()


def test_descriptor_indexes_the_message_id_property(descriptor: dict[str, Any]) -> None:
    (entity,) = descriptor["modules"]["jiraEntityProperties"]
    (config,) = entity["keyConfigurations"]
    assert entity["entityType"] == "issue"
    assert config["propertyKey"] == message_property_key("mail-connector")
    assert config["extractions"][0]["objectName"] == "messageIdDigest"


def test_descriptor_app_key_changes_key_and_property(descriptor: dict[str, Any]) -> None:
    staging = render_descriptor(base_url=BASE_URL, app_key="mail-connector-staging")
    config = staging["modules"]["jiraEntityProperties"][0]["keyConfigurations"][0]
    assert staging["key"] == "mail-connector-staging"
    assert config["propertyKey"] == "mail-connector-staging-message"
