"""A mail source's Jira side, checked when it is saved: can mail become issues as set up?

Without these checks a wrong project, an issue type with a required field mail cannot fill,
or text mapped into a number field would only show up as a `failed` row for every message.
So creating or updating a source asks Jira (as the app):

- the create metadata of the project and issue type (`connector.jira.metadata`): a required
  field without a default must get one in `policy.field_defaults`;
- the field list (`GET /rest/api/3/field`): every field in `policy.field_mappings` and
  `policy.field_defaults` must exist, mappings (always text) must target a text field, and
  defaults must have the shape the field's type takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.admin.endpoint import ApiCall
from connector.admin.errors import ApiError
from connector.admin.jira_calls import jira_client, jira_unavailable
from connector.jira.client import JiraClient
from connector.jira.dialect import CLOUD, JiraDialect
from connector.jira.errors import JiraError
from connector.jira.fields import describe, holds_text, index_fields, type_label, value_problem
from connector.jira.metadata import check_create_metadata
from connector.mail_source import SourcePolicy, SourceSpec
from connector.sources.errors import SourceConfigError

# Mapping sources that every message has, so a required field mapped from one is filled.
_ALWAYS_PRESENT = frozenset({"sender"})
_POLICY_FIELDS = frozenset({"field_defaults", "field_mappings"})


def check_source_in_jira(call: ApiCall, spec: SourceSpec) -> None:
    """Raise `ApiError` 400 naming the setting to fix, or 502 when Jira cannot be asked."""
    with jira_client(call) as client:
        try:
            fields = index_fields(client.get_fields())
            check_target(client, fields, spec.project_key, spec.issue_type, spec.policy)
        except SourceConfigError as exc:
            field = f"policy.{exc.field}" if exc.field in _POLICY_FIELDS else exc.field
            raise ApiError(400, f"{field}: {exc.problem}", field=field) from exc
        except JiraError as exc:
            raise jira_unavailable(exc, f"check {spec.project_key} in Jira") from exc


def check_target(
    client: JiraClient,
    fields: Mapping[str, Mapping[str, Any]],
    project_key: str,
    issue_type: str,
    policy: SourcePolicy,
) -> None:
    """One place mail goes (a source's project, or an address rule's with its merged policy):
    raise `SourceConfigError` for what would make every issue creation there fail."""
    check_policy_fields(policy, fields, client.dialect)
    check_create_metadata(
        client,
        project_key,
        issue_type,
        field_defaults=policy.field_defaults,
        mapped_fields=[m.field_id for m in policy.field_mappings if m.source in _ALWAYS_PRESENT],
    )


def check_policy_fields(
    policy: SourcePolicy, fields: Mapping[str, Mapping[str, Any]], dialect: JiraDialect = CLOUD
) -> None:
    """Raise `SourceConfigError` for a mapping or default Jira would refuse on every issue
    (as the site's REST API takes values: `dialect`)."""
    for mapping in policy.field_mappings:
        target = _known(fields, mapping.field_id, "field_mappings")
        if not holds_text(target):
            raise SourceConfigError(
                "field_mappings",
                f"{mapping.source} is text, but {describe(target)} is {type_label(target)}: "
                "map it into a short text or paragraph field",
            )
    for field_id, value in policy.field_defaults.items():
        target = _known(fields, field_id, "field_defaults")
        problem = value_problem(target, value, dialect)
        if problem is not None:
            raise SourceConfigError(
                "field_defaults",
                f"{describe(target)} is {type_label(target)} and {problem}; got {value!r}",
            )


def _known(
    fields: Mapping[str, Mapping[str, Any]], field_id: str, setting: str
) -> Mapping[str, Any]:
    found = fields.get(field_id)
    if found is None:
        raise SourceConfigError(setting, f"Jira has no field {field_id}")
    return found
