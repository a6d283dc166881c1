"""OpenAPI 3.0 schema builders, the one set every part of the admin API's document uses.

OpenAPI 3.0 predates JSON Schema's `type: [..., "null"]`, so a value that may be null says
`nullable: true`. Objects are closed (`additionalProperties: false`) unless said otherwise: the
API refuses settings it does not know, and the document says so.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str = "", **more: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def integer(minimum: int | None = None, maximum: int | None = None, **more: Any) -> Schema:
    bounds = {"minimum": minimum, "maximum": maximum}
    return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}, **more}


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def strings(description: str = "") -> Schema:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def closed_object(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
