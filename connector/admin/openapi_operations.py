"""Building blocks of the admin API's OpenAPI paths: operations, their errors, bodies and query
parameters; the one set `openapi` and `openapi_outbound` describe their routes with."""

from __future__ import annotations

from connector.resources.schema import Schema, ref

ERRORS = {
    400: "invalid input; `field` names it",
    401: "no token, or one that does not verify",
    403: "not a Jira administrator of this site, or a token naming no user",
    404: "no such item for this site",
    409: "not possible in the item's state (or needs an acknowledgement)",
    501: "not available in this version yet",
    502: "the mail server or Jira could not be reached",
}


def query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def path_id(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def body(schema: str, example: Schema | None = None, *, required: bool = True) -> Schema:
    media: Schema = {"schema": ref(schema)}
    if example is not None:
        media["example"] = example
    return {"required": required, "content": {"application/json": media}}


def answer(description: str, schema: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def operation(
    summary: str,
    ok: tuple[int, str, str],
    *,
    errors: tuple[int, ...] = (),
    body: Schema | None = None,
    parameters: list[Schema] | None = None,
    admin: bool = True,
    error_descriptions: dict[int, str] | None = None,
) -> Schema:
    """`ok`: (status, description, schema name); `errors`: the codes besides 401 (and 403 for
    an administrator's call), described as in `ERRORS` unless `error_descriptions` says more
    precisely what they mean here."""
    status, description, schema = ok
    responses: Schema = {str(status): answer(description, schema)}
    described = {**ERRORS, **(error_descriptions or {})}
    codes = (401, 403, *errors) if admin else (401, *errors)
    for code in codes:
        responses[str(code)] = answer(described[code], "Error")
    found: Schema = {"summary": summary, "responses": responses}
    if parameters:
        found["parameters"] = parameters
    if body is not None:
        found["requestBody"] = body
    return found
