"""The served OpenAPI document matches the API: the same routes and methods, examples that
validate against their schemas and that the API accepts, answers that fit their schemas."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import pytest

from connector.admin.openapi import document
from connector.app import build_routes
from connector.outcomes import Outcome
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api, source_body
from tests.integration.conftest import RunningApp

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The document does not depend on the database: one backend keeps this file fast."""
    return sqlite_url


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira) -> AdminApi:
    api = make_admin_api(running_app, fake_jira)
    for key in ("BIL", "PRT", "OPS"):  # projects the source example's address routing names
        fake_jira.add_project(key, f"Project {key}", issue_types=("Task", "Bug"))
    return api


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (3.0 predates `type: [.., null]`)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _validator(name: str) -> jsonschema.protocols.Validator:
    components = _json_schema(document()["components"])
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    # Formats too (email, date-time, uri): clients and generated tests rely on them.
    validator: jsonschema.protocols.Validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return validator


def _check(name: str, instance: Any) -> None:
    errors = [error.message for error in _validator(name).iter_errors(instance)]
    assert errors == [], (name, errors)


def _registered() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for route in build_routes():
        path = getattr(route, "path", "")
        if path.startswith("/api/v1"):
            openapi_path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
            methods = {m.lower() for m in route.methods or ()} - {"head"}
            found.setdefault(openapi_path, set()).update(methods)
    return found


def _documented() -> dict[str, set[str]]:
    return {path: set(item) & METHODS for path, item in document()["paths"].items()}


def _examples() -> list[tuple[str, str, str, Any]]:
    """(path, method, schema name, example) for every request body example."""
    found = []
    for path, item in document()["paths"].items():
        for method in set(item) & METHODS:
            media = item[method].get("requestBody", {}).get("content", {}).get("application/json")
            if media and "example" in media:
                name = media["schema"]["$ref"].rsplit("/", 1)[1]
                found.append((path, method, name, media["example"]))
    return found


def test_openapi_paths_and_methods_match_registered_routes() -> None:
    assert _documented() == _registered()


def test_openapi_document_is_valid_openapi_30_shape() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.0.")
    for path, item in spec["paths"].items():
        for method in set(item) & METHODS:
            operation = item[method]
            assert operation["summary"], (path, method)
            assert any(code.startswith("2") for code in operation["responses"]), (path, method)
            names = re.findall(r"\{(\w+)\}", path)
            declared = [p["name"] for p in item.get("parameters", []) if p["in"] == "path"]
            assert declared == names, path
    for name, schema in spec["components"]["schemas"].items():
        jsonschema.Draft7Validator.check_schema(_json_schema(schema))
        assert name


def test_openapi_request_examples_validate_against_schemas() -> None:
    examples = _examples()
    assert {(path, method) for path, method, _, _ in examples} >= {
        ("/api/v1/mail-sources", "post"),
        ("/api/v1/mail-sources/{source_id}", "put"),
        ("/api/v1/mail-sources/{source_id}/enable", "post"),
    }
    for _, _, name, example in examples:
        _check(name, example)


def test_openapi_served_equals_document(running_app: RunningApp) -> None:
    response = httpx.get(running_app.base_url + "/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == document()


def test_openapi_request_examples_accepted_by_api(api: AdminApi) -> None:
    source_id = api.create(host="127.0.0.1", port=1)["id"]  # nothing listens on port 1
    for path, method, _, example in _examples():
        target = path.removeprefix("/api/v1").replace("{source_id}", str(source_id))
        response = api.call(method.upper(), target, json=example)
        # Accepted: the body passed validation. Enable then fails to connect to port 1.
        expected = {"post": 201}.get(method, 200) if target == "/mail-sources" else 200
        if target.endswith("/enable"):
            expected = 502
        assert response.status_code == expected, (path, method, response.text)


def test_openapi_answers_fit_their_schemas(api: AdminApi) -> None:
    field_id = api.jira.add_custom_field("Customer address")
    created = api.create(policy={"field_mappings": [{"source": "sender", "field_id": field_id}]})
    _check("MailSource", created)
    path = f"/mail-sources/{created['id']}"
    _check("MailSourceList", api.call("GET", "/mail-sources").json())
    _check("MailSource", api.call("PUT", path, json=source_body(success_folder="Done")).json())
    _check("Disabled", api.call("POST", path + "/disable").json())
    _check("Error", api.call("POST", path + "/poll").json())
    _check("Error", api.call("POST", "/mail-sources", json={"name": 1}).json())
    diagnosis = api.call("POST", "/mail-sources/test", json=source_body(host="127.0.0.1", port=1))
    _check("Diagnosis", diagnosis.json())
    log = api.app.runtime.email_log
    entry = log.begin(api.tenant_id, created["id"], "INBOX:1:1", size=1)
    log.finish(entry.id, Outcome.FAILED, "boom", trail=["parsed"])
    _check("LogEntryList", api.call("GET", "/email-log").json())
    _check("LogEntryDetail", api.call("GET", f"/email-log/{entry.id}").json())
    _check("Deleted", api.call("DELETE", path).json())
    _check("Tenant", api.call("GET", "/tenant").json())
    mapping = {"mapping": {"sender_address": field_id}}
    _check("FieldSettings", api.call("PUT", "/settings/fields", json=mapping).json())
    _check("FieldSettings", api.call("GET", "/settings/fields?project_key=SUP").json())
    workaround = {"email": "lookup@example.com", "api_token": "tok-1"}
    _check("WorkaroundUser", api.call("PUT", "/settings/workaround-user", json=workaround).json())
    _check("WorkaroundTestResult", api.call("POST", "/settings/workaround-user/test").json())
    _check("WorkaroundUser", api.call("DELETE", "/settings/workaround-user").json())


def test_openapi_unsaved_outbound_connection_fits_its_schema(api: AdminApi) -> None:
    """Before anything is saved the sender address is "", which is no `email` format."""
    unsaved = api.call("GET", "/outbound-connection").json()
    assert unsaved["configured"] is False and unsaved["from_address"] == ""
    _check("OutboundConnection", unsaved)
    saved = {
        "host": "127.0.0.1",
        "port": 1,
        "username": "support@example.com",
        "password": "app-password",
        "from_address": "support@example.com",
    }
    answer = api.call("PUT", "/outbound-connection", json=saved)
    assert answer.status_code == 200, answer.text
    _check("OutboundConnection", answer.json())
