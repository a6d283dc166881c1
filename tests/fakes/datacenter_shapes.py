"""Request and response shapes of the Jira Data Center REST API v2 the fake checks.

Atlassian publishes an OpenAPI document only for Jira Data Center 10 and later, and no
package on the registries this project uses carries it (nor one for 9.x); the project's
`shared/specs` hold the Cloud documents only. So these shapes are written from the Data Center
REST reference (docs.atlassian.com/software/jira/docs/api/REST/9.12.0, the same resources in
the 10.x reference) and its "Field input formats" page, as draft-04 JSON Schema, covering
only the resources the connector calls:

- `POST /rest/api/2/issue`: `fields` with a wiki-markup string `description`, users as
  `{"name": ...}` (no `accountId` on Data Center), and entity `properties`;
- `POST /rest/api/2/issue/{key}/comment`: a wiki-markup string `body`, `properties`;
- answers: serverInfo (`deploymentType` "Server" or "DataCenter"), a user (`name`, `key`,
  no `accountId`), a created issue, a comment, an attachment.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft4Validator

_STRING = {"type": "string"}
_USER_REF = {
    "type": "object",
    "properties": {"name": _STRING},
    "required": ["name"],
    "additionalProperties": False,
}
_BY_ID_OR_NAME = {
    "type": "object",
    "properties": {"id": _STRING, "key": _STRING, "name": _STRING},
    "minProperties": 1,
}
_ENTITY_PROPERTIES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 255}, "value": {}},
        "required": ["key", "value"],
        "additionalProperties": False,
    },
}

CREATE_ISSUE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "fields": {
            "type": "object",
            "properties": {
                "project": _BY_ID_OR_NAME,
                "issuetype": _BY_ID_OR_NAME,
                "summary": _STRING,
                "description": _STRING,
                "environment": _STRING,
                "reporter": _USER_REF,
                "assignee": {"anyOf": [_USER_REF, {"type": "null"}]},
                "labels": {"type": "array", "items": _STRING},
                "priority": _BY_ID_OR_NAME,
            },
            "required": ["project", "issuetype", "summary"],
        },
        "update": {"type": "object"},
        "properties": _ENTITY_PROPERTIES,
    },
    "required": ["fields"],
}

ADD_COMMENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "body": _STRING,
        "visibility": {
            "type": "object",
            "properties": {"type": {"enum": ["group", "role"]}, "value": _STRING},
            "required": ["type", "value"],
        },
        "properties": _ENTITY_PROPERTIES,
    },
    "required": ["body"],
    "additionalProperties": False,
}

USER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "self": _STRING,
        "name": _STRING,
        "key": _STRING,
        "emailAddress": _STRING,
        "displayName": _STRING,
        "active": {"type": "boolean"},
        "timeZone": _STRING,
        "avatarUrls": {"type": "object"},
    },
    "required": ["self", "name", "key", "displayName", "active"],
    "not": {"anyOf": [{"required": ["accountId"]}, {"required": ["accountType"]}]},
}

SERVER_INFO: dict[str, Any] = {
    "type": "object",
    "properties": {
        "baseUrl": _STRING,
        "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+"},
        "versionNumbers": {"type": "array", "items": {"type": "integer"}, "minItems": 3},
        "deploymentType": {"enum": ["Server", "DataCenter"]},
        "buildNumber": {"type": "integer"},
        "buildDate": _STRING,
        "serverTime": _STRING,
        "scmInfo": _STRING,
        "serverTitle": _STRING,
    },
    "required": ["baseUrl", "version", "versionNumbers", "deploymentType", "buildNumber"],
}

CREATED_ISSUE: dict[str, Any] = {
    "type": "object",
    "properties": {"id": _STRING, "key": _STRING, "self": _STRING},
    "required": ["id", "key", "self"],
}

COMMENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "self": _STRING,
        "id": _STRING,
        "author": USER,
        "body": _STRING,
        "updateAuthor": USER,
        "created": _STRING,
        "updated": _STRING,
        "properties": _ENTITY_PROPERTIES,
    },
    "required": ["self", "id", "author", "body", "created", "updated"],
}

ATTACHMENTS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "self": _STRING,
            "id": _STRING,
            "filename": _STRING,
            "author": USER,
            "created": _STRING,
            "size": {"type": "integer"},
            "mimeType": _STRING,
            "content": _STRING,
        },
        "required": ["self", "id", "filename", "author", "size", "mimeType", "content"],
    },
}


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Each way `instance` breaks `schema`, as `path: message`."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message[:200]}"
        for error in Draft4Validator(schema).iter_errors(instance)
    ]
