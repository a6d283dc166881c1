"""Request validation against Jira's published OpenAPI document and the ADF JSON schema.

The spec is 2.4 MB; it is read, converted and indexed once per process, on first use.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from tests.shared import shared_path

_COMPOSITIONS = ("allOf", "anyOf", "oneOf")


def to_json_schema(node: Any) -> Any:
    """Turn an OpenAPI 3.0 schema into draft-04 JSON Schema without false failures.

    - `nullable: true` is OpenAPI's way to allow null; draft-04 needs it in `type`.
    - `oneOf` becomes `anyOf`: Jira's discriminated unions overlap (several branches accept the
      same object), so strict "exactly one" would reject valid bodies.
    - `additionalProperties: false` next to a composition is dropped: draft-04 evaluates it
      against the schema's own (absent) `properties`, so it would reject every property the
      branches define.
    - readOnly/writeOnly properties leave `required`: OpenAPI only requires them in one
      direction.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("discriminator", "nullable", "example", "xml"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key == "oneOf":
            out["anyOf"] = to_json_schema(value)
        else:
            out[key] = to_json_schema(value)
    if any(key in node for key in _COMPOSITIONS) and node.get("additionalProperties") is False:
        del out["additionalProperties"]
    properties = node.get("properties")
    if isinstance(node.get("required"), list) and isinstance(properties, dict):
        one_way = {
            name
            for name, prop in properties.items()
            if isinstance(prop, dict) and (prop.get("readOnly") or prop.get("writeOnly"))
        }
        out["required"] = [name for name in node["required"] if name not in one_way]
        if not out["required"]:
            del out["required"]
    if node.get("nullable") is True:
        out = _allow_null(out)
    return out


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [{"type": "null"}, schema]}


def _describe(error: ValidationError) -> str:
    where = "".join(
        f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    message = str(error.message)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"body{where}: {message}"


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.compile(pattern + "$")


@dataclass(frozen=True)
class _Template:
    text: str
    regex: re.Pattern[str]
    # Literal segments win over parameters: `/issue/createmeta` is not `/issue/{issueIdOrKey}`.
    specificity: tuple[int, ...]


class JiraOpenApi:
    """The Jira Cloud platform spec, converted for validation."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._paths: dict[str, Any] = spec["paths"]
        self._components = {"schemas": to_json_schema(spec["components"]["schemas"])}
        self._validators: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        templates = [
            _Template(
                text=path,
                regex=_template_regex(path),
                specificity=tuple(1 if "{" in part else 0 for part in path.split("/")),
            )
            for path in self._paths
        ]
        self._templates = sorted(templates, key=lambda t: t.specificity)

    def match_template(self, path: str) -> str | None:
        for template in self._templates:
            if template.regex.match(path):
                return template.text
        return None

    def operation(self, template: str, method: str) -> dict[str, Any] | None:
        operation = self._paths.get(template, {}).get(method.lower())
        return operation if isinstance(operation, dict) else None

    def request_body_errors(self, template: str, method: str, body: Any) -> list[str]:
        """Messages for each way `body` breaks the operation's JSON request schema."""
        validator = self._validator(template, method, "request")
        if validator is None:
            return []
        return [_describe(error) for error in _leaf_errors(validator, body)]

    def response_body_errors(self, template: str, method: str, status: int, body: Any) -> list[str]:
        validator = self._validator(template, method, str(status))
        if validator is None:
            return []
        return [_describe(error) for error in _leaf_errors(validator, body)]

    def request_example(self, template: str, method: str) -> Any:
        operation = self.operation(template, method) or {}
        content = operation.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("example")

    def _validator(self, template: str, method: str, which: str) -> Any:
        cache_key = (template, method.lower(), which)
        with self._lock:
            if cache_key in self._validators:
                return self._validators[cache_key]
        operation = self.operation(template, method) or {}
        if which == "request":
            holder = operation.get("requestBody", {})
        else:
            holder = operation.get("responses", {}).get(which, {})
        schema = holder.get("content", {}).get("application/json", {}).get("schema")
        validator = None
        if isinstance(schema, dict):
            # `#/components/...` references resolve against the document root, so the converted
            # components ride along beside the operation's schema.
            root = dict(to_json_schema(schema), components=self._components)
            validator = Draft4Validator(root)
        with self._lock:
            self._validators[cache_key] = validator
        return validator


def _leaf_errors(validator: Any, instance: Any) -> Iterator[ValidationError]:
    for error in validator.iter_errors(instance):
        yield _most_specific(error)


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend into `anyOf` failures to the branch the instance was evidently meant for.

    ADF and the OpenAPI unions tell branches apart by a `type` property; a branch that fails on
    that property was never the intended one, so its complaints are noise.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
    candidates = [subs for subs in by_branch.values() if not any(map(_wrong_branch, subs))]
    if not candidates:
        if isinstance(error.instance, dict) and "type" in error.instance:
            error.message = f"node type {error.instance['type']!r} is not allowed here"
        return error
    # Several variants can share a type (paragraph, paragraph with alignment, ...); the one
    # that got furthest into the instance names the real problem.
    deepest = max(
        (sub for subs in candidates for sub in subs), key=lambda sub: len(sub.relative_path)
    )
    return _most_specific(deepest)


def _wrong_branch(error: ValidationError) -> bool:
    path = list(error.relative_path)
    if path == ["type"] and error.validator == "enum":
        return True
    return not path and error.validator == "type"


class AdfSchema:
    """Atlassian Document Format, draft-04 (developer.atlassian.com/cloud/jira/platform/apis/
    document/structure/)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = Draft4Validator(schema)

    def errors(self, document: Any) -> list[str]:
        return [
            _describe(error).replace("body", "document", 1)
            for error in _leaf_errors(self._validator, document)
        ]


_load_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def jira_openapi() -> JiraOpenApi:
    """The converted spec; call it first from the test thread, where a missing file can skip."""
    with _load_lock:
        if "jira" not in _loaded:
            path = shared_path("specs", "jira-platform.openapi.json")
            _loaded["jira"] = JiraOpenApi(json.loads(path.read_text(encoding="utf-8")))
        spec: JiraOpenApi = _loaded["jira"]
        return spec


def jsm_openapi() -> JiraOpenApi:
    """The Jira Service Management spec (`/rest/servicedeskapi`), converted the same way."""
    with _load_lock:
        if "jsm" not in _loaded:
            path = shared_path("specs", "jsm-servicedesk.openapi.json")
            _loaded["jsm"] = JiraOpenApi(json.loads(path.read_text(encoding="utf-8")))
        spec: JiraOpenApi = _loaded["jsm"]
        return spec


def adf_schema() -> AdfSchema:
    with _load_lock:
        if "adf" not in _loaded:
            path = shared_path("specs", "adf.schema.json")
            _loaded["adf"] = AdfSchema(json.loads(path.read_text(encoding="utf-8")))
        schema: AdfSchema = _loaded["adf"]
        return schema
