"""Can mail become issues of this project and type? Checked against Jira's create metadata.

`GET /rest/api/3/issue/createmeta/{project}/issuetypes[/{id}]` lists the types a project takes
and, per type, the fields of its create screen with `required` and `hasDefaultValue`. The
pipeline fills summary, description, reporter and the mapped fields; any other required field
without a default must get a value from the admin (`SourcePolicy.field_defaults`), otherwise
every issue creation would fail with a 400 the admin sees only in the email log.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from connector.jira.client import JiraClient
from connector.jira.errors import JiraNotFound
from connector.sources.errors import SourceConfigError

# Fields the pipeline always sets (or Jira sets itself) when creating from mail.
FILLED_BY_PIPELINE = frozenset(
    {"project", "issuetype", "summary", "description", "reporter", "attachment"}
)


@dataclass(frozen=True)
class CreateCheck:
    issue_type_id: str
    missing_required: tuple[str, ...]  # "Field name (field_id)"


def check_create_metadata(
    client: JiraClient,
    project_key: str,
    issue_type: str,
    *,
    field_defaults: Mapping[str, Any],
    mapped_fields: Collection[str] = (),
) -> CreateCheck:
    """Raise `SourceConfigError` naming the setting to fix, or return what was checked."""
    try:
        types = client.get_create_issue_types(project_key)
    except JiraNotFound:
        raise SourceConfigError(
            "project_key", f"Jira has no project {project_key} that the app may create in"
        ) from None
    chosen = next((t for t in types if str(t.get("name", "")).lower() == issue_type.lower()), None)
    if chosen is None:
        names = ", ".join(sorted(str(t.get("name")) for t in types)) or "none"
        raise SourceConfigError(
            "issue_type", f"{project_key} has no issue type {issue_type!r} (it has: {names})"
        )
    fields = client.get_create_fields(project_key, str(chosen.get("id")))
    filled = FILLED_BY_PIPELINE | set(field_defaults) | set(mapped_fields)
    missing = tuple(
        f"{field.get('name')} ({field.get('fieldId')})"
        for field in fields
        if field.get("required")
        and not field.get("hasDefaultValue")
        and str(field.get("fieldId")) not in filled
    )
    if missing:
        raise SourceConfigError(
            "field_defaults",
            f"{issue_type} issues in {project_key} need {', '.join(missing)}, which mail does "
            "not provide: set a default value for each in the source's field defaults",
        )
    return CreateCheck(issue_type_id=str(chosen.get("id")), missing_required=missing)
