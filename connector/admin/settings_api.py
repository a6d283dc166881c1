"""`/api/v1/settings/fields`: which custom fields receive what mail tells us about people.

A sender without a Jira account cannot be the reporter, so their name and address go into
custom fields, and so do the Cc recipients and the source's language (DESIGN.md "Senders").
Each role takes a short-text or paragraph custom field; a field id Jira does not know, or
one of another type, is refused when saved rather than failing every issue created later.

A mapped field that is not on the project's create screen is silently dropped by Jira's UI
but refused by its REST API, so every answer says, per role, whether the field is on the
create screen (`GET /rest/api/3/issue/createmeta/{project}/issuetypes/{id}`): for the
project and type asked about, else for every enabled source's project and type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError
from connector.admin.jira_calls import jira_client, jira_unavailable
from connector.jira.client import JiraClient
from connector.jira.errors import JiraAuthError, JiraError, JiraNotFound
from connector.jira.fields import custom_type, describe, holds_text, index_fields, type_label
from connector.resources.tenant_settings import FIELD_ROLES, ROLES

ROLES_BY_NAME = {role.name: role for role in FIELD_ROLES}
TEXT_FIELD_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:textfield"
TEXT_SEARCHER = "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"
PARAGRAPH_FIELD_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"

Target = tuple[str, str | None]  # project key, issue type name (None: every type)


def get_fields(call: ApiCall) -> Answer:
    """GET /api/v1/settings/fields?project_key=&issue_type="""
    target = _target_from_query(call.query)
    with jira_client(call) as client:
        return Answer(_answer(call, client, target))


def put_fields(call: ApiCall) -> Answer:
    """PUT /api/v1/settings/fields: `{"mapping": {role: field id or null}}`; roles left out
    become unmapped."""
    body = call.body()
    for name in body:
        if name != "mapping":
            raise ApiError(400, f"{name}: is not a field-mapping setting", field=name)
    mapping = _mapping_from(body.get("mapping"))
    with jira_client(call) as client:
        fields = _fields(client)
        _check_mapping(mapping, fields)
        call.runtime.tenant_settings.set_field_mapping(call.tenant.id, mapping)
        log_action(call, "fields_mapped", roles=",".join(r for r in ROLES if mapping.get(r)))
        return Answer(_answer(call, client, None, fields))


def create_field(call: ApiCall) -> Answer:
    """POST /api/v1/settings/fields/create: `{"role": ...}` makes a short-text custom field
    in Jira (or reuses one with the same name) and maps it to the role."""
    body = call.body()
    for name in body:
        if name != "role":
            raise ApiError(400, f"{name}: only role may be given", field=name)
    role = body.get("role")
    if role not in ROLES:
        raise ApiError(400, f"role: must be one of {', '.join(ROLES)}", field="role")
    name = ROLES_BY_NAME[role].new_field_name
    with jira_client(call) as client:
        fields = _fields(client)
        reused = next((f for f in fields.values() if f.get("name") == name and _usable(f)), None)
        field_id = str(reused["id"]) if reused else _create_in_jira(client, role, name)
        call.runtime.tenant_settings.map_field(call.tenant.id, role, field_id)
        log_action(call, "field_created", role=role, field_id=field_id, reused=bool(reused))
        return Answer(_answer(call, client, None, _fields(client) if not reused else fields))


def _create_in_jira(client: JiraClient, role: str, name: str) -> str:
    description = (
        f"Filled by Mail Connector for Jira: the {ROLES_BY_NAME[role].label.lower()} of mail"
    )
    try:
        created = client.create_custom_field(
            name,
            PARAGRAPH_FIELD_TYPE if ROLES_BY_NAME[role].paragraph else TEXT_FIELD_TYPE,
            searcher_key=TEXT_SEARCHER,
            description=description,
        )
    except JiraAuthError as exc:
        raise ApiError(
            409,
            f"Jira refused to create the field ({exc}): the app needs the Administer Jira "
            "permission for that. Create a text custom field in Jira's settings and "
            "map it here instead.",
            field="role",
        ) from exc
    except JiraError as exc:
        raise jira_unavailable(exc, "create the field in Jira") from exc
    return str(created.get("id"))


# -- reading -----------------------------------------------------------------------------


def _answer(
    call: ApiCall,
    client: JiraClient,
    target: Target | None,
    fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    fields = fields if fields is not None else _fields(client)
    mapping = call.runtime.tenant_settings.field_mapping(call.tenant.id)
    screens = _screens(call, client, target)
    roles = []
    for role in ROLES:
        field_id = mapping.get(role)
        known = fields.get(field_id) if field_id else None
        on_screen = None
        if field_id and screens is not None:
            on_screen = all(field_id in screen for screen in screens)
        roles.append(
            {
                "role": role,
                "label": ROLES_BY_NAME[role].label,
                "field_id": field_id,
                "field_name": str(known["name"]) if known else None,
                "on_create_screen": on_screen,
            }
        )
    custom = sorted(
        (f for f in fields.values() if f.get("custom")), key=lambda f: str(f.get("name"))
    )
    return {
        "mapping": mapping,
        "roles": roles,
        "custom_fields": [
            {
                "id": str(f["id"]),
                "name": str(f.get("name")),
                "type": str((f.get("schema") or {}).get("type") or ""),
                "custom_type": custom_type(f),
                "holds_text": _usable(f),
            }
            for f in custom
        ],
        "can_create_fields": _can_create_fields(client),
    }


def _fields(client: JiraClient) -> dict[str, Mapping[str, Any]]:
    try:
        return index_fields(client.get_fields())
    except JiraError as exc:
        raise jira_unavailable(exc, "read Jira's fields") from exc


def _can_create_fields(client: JiraClient) -> bool:
    """Creating fields needs Administer Jira; "don't know" reads as no (the page then offers
    mapping an existing field, which always works)."""
    try:
        return "ADMINISTER" in client.my_permissions(["ADMINISTER"])
    except JiraError:
        return False


def _screens(call: ApiCall, client: JiraClient, target: Target | None) -> list[set[str]] | None:
    """The field ids on each create screen to check, or None when that cannot be told."""
    if target is not None:
        return _target_screens(client, target)
    targets = sorted(
        {
            (s.spec.project_key, s.spec.issue_type)
            for s in call.runtime.sources.search(call.tenant.id)
            if s.enabled
        }
    )
    if not targets:
        return None
    try:
        return [screen for t in targets for screen in _target_screens(client, t)]
    except ApiError:
        return None  # a source's project is gone or hidden: its own status says so


def _target_screens(client: JiraClient, target: Target) -> list[set[str]]:
    project_key, issue_type = target
    try:
        types = client.get_create_issue_types(project_key)
        if issue_type is not None:
            types = [t for t in types if str(t.get("name", "")).lower() == issue_type.lower()]
            if not types:
                raise ApiError(
                    400,
                    f"issue_type: {project_key} has no issue type {issue_type!r}",
                    field="issue_type",
                )
        return [
            {str(f.get("fieldId")) for f in client.get_create_fields(project_key, str(t["id"]))}
            for t in types
        ]
    except JiraNotFound as exc:
        raise ApiError(
            400,
            f"project_key: Jira has no project {project_key} the app may create in",
            field="project_key",
        ) from exc
    except JiraError as exc:
        raise jira_unavailable(exc, "read the create screen from Jira") from exc


def _target_from_query(query: Mapping[str, str]) -> Target | None:
    unknown = set(query) - {"project_key", "issue_type"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not a filter of field settings", field=name)
    project_key = query.get("project_key", "").strip().upper()
    issue_type = query.get("issue_type", "").strip() or None
    if not project_key:
        if issue_type:
            raise ApiError(400, "project_key: is required with issue_type", field="project_key")
        return None
    return project_key, issue_type


# -- writing -----------------------------------------------------------------------------


def _mapping_from(value: Any) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise ApiError(400, "mapping: must be an object of role -> field id", field="mapping")
    mapping: dict[str, str | None] = {}
    for role, field_id in value.items():
        if role not in ROLES:
            raise ApiError(
                400,
                f"mapping.{role}: is not a role (roles: {', '.join(ROLES)})",
                field=f"mapping.{role}",
            )
        if field_id is not None and (not isinstance(field_id, str) or not field_id.strip()):
            raise ApiError(
                400, f"mapping.{role}: must be a field id or null", field=f"mapping.{role}"
            )
        mapping[role] = field_id.strip() if isinstance(field_id, str) else None
    return mapping


def _check_mapping(
    mapping: Mapping[str, str | None], fields: Mapping[str, Mapping[str, Any]]
) -> None:
    seen: dict[str, str] = {}
    for role in ROLES:
        field_id = mapping.get(role)
        if not field_id:
            continue
        where = f"mapping.{role}"
        found = fields.get(field_id)
        if found is None:
            raise ApiError(400, f"{where}: Jira has no field {field_id}", field=where)
        if not _usable(found):
            raise ApiError(
                400,
                f"{where}: {describe(found)} is {type_label(found)}, which cannot hold the "
                f"{ROLES_BY_NAME[role].label.lower()}: choose a short text or paragraph "
                "custom field",
                field=where,
            )
        if field_id in seen:
            raise ApiError(
                400,
                f"{where}: {describe(found)} is already mapped to {seen[field_id]}",
                field=where,
            )
        seen[field_id] = role


def _usable(field: Mapping[str, Any]) -> bool:
    """A custom field that takes text: system fields have their own meaning in Jira."""
    return bool(field.get("custom")) and holds_text(field)
