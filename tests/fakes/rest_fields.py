"""Creating custom fields in the fake site: `POST /rest/api/3/field` (Administer Jira only).

A new field is on no create screen, as in Jira, until an admin adds it to one."""

from __future__ import annotations

from tests.fakes import catalogue as cat
from tests.fakes import render
from tests.fakes.routing import Call, Reply, Router
from tests.fakes.site import JiraError, JiraSite

router = Router()

# "textfield" -> "string", ...: the Jira type key suffix -> the fake's schema_type name.
_BY_TYPE_KEY = {suffix: name for name, (_, _, suffix) in cat.CUSTOM_FIELD_TYPES.items()}


@router.route("POST", "/field", body="json")
def create_field(site: JiraSite, call: Call) -> Reply:
    holder = call.caller_id if call.caller_id in site.permissions else None
    if not site.has_permission(holder, "ADMINISTER"):
        raise JiraError(403, ["Only Jira administrators can create custom fields."])
    body = call.json
    name = str(body.get("name") or "").strip()
    if not name:
        raise JiraError(400, [], {"name": "The custom field name is required."})
    type_key = str(body.get("type") or "")
    schema_type = _BY_TYPE_KEY.get(type_key.removeprefix(cat.CUSTOM_TYPE_PREFIX))
    if schema_type is None or not type_key.startswith(cat.CUSTOM_TYPE_PREFIX):
        raise JiraError(400, [], {"type": f"The custom field type '{type_key}' is not valid."})
    custom = site.add_custom_field(name, schema_type, projects=())
    number = custom.id.removeprefix("customfield_")
    return Reply(
        201,
        {
            "id": custom.id,
            "key": custom.id,
            "name": custom.name,
            "custom": True,
            "orderable": True,
            "navigable": True,
            "searchable": bool(body.get("searcherKey")),
            "clauseNames": [f"cf[{number}]", custom.name],
            "schema": render.custom_schema(custom),
            "description": str(body.get("description") or ""),
        },
    )
