"""The Forge manifest (descriptor/manifest.py, descriptor/forge-manifest.yml).

Validated with Atlassian's own `@forge/manifest` package, what `forge lint` and `forge deploy`
run: `.ci/run` installs it into build/forge-manifest/ (never committed) and
tests/forge/validate_manifest.js runs its full validation on the generated file. Without node
or the package the test skips locally and fails under CI=true or REQUIRE_SERVERS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from descriptor.manifest import (
    FORGE_LIFECYCLE_EVENTS,
    INSTALLED_ENDPOINT,
    REFRESH_ENDPOINT,
    forge_endpoint_paths,
    manifest_yaml,
    render_manifest,
    webhook_module_key,
)
from descriptor.render import render_descriptor
from tests.conftest import servers_required, skip_or_fail
from tests.shared import shared_path

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "forge" / "validate_manifest.js"
NODE_MODULES = Path(
    os.environ.get(
        "FORGE_MANIFEST_NODE_MODULES", ROOT / "build" / "forge-manifest" / "node_modules"
    )
)
BASE_URL = "https://mail.example.com/connector"
APP_KEY = "mail-connector"
APP_ID = "ari:cloud:ecosystem::app/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return render_manifest(base_url=BASE_URL, app_key=APP_KEY, forge_app_id=APP_ID)


@pytest.fixture(scope="module")
def descriptor() -> dict[str, Any]:
    return render_descriptor(base_url=BASE_URL, app_key=APP_KEY)


# Each way to break the manifest, and a word its refusal must name. Schema errors stop the
# later validators, so each break is validated on its own.
BREAKS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "duplicate-key": ("mail-connector-admin", ("modules", "trigger", 0, "key")),
    "unknown-scope": ("read:jira-everything", ("permissions", "scopes", 0)),
    "unknown-interval": ("hourly", ("modules", "scheduledTrigger", 0, "interval")),
}


def _broken(manifest: dict[str, Any], value: str, where: tuple[Any, ...]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(manifest))
    target: Any = copy
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return copy


@pytest.fixture(scope="module")
def validated(manifest: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Atlassian's full validation of the generated manifest ("generated") and of each break,
    in one run of node (it takes seconds to start)."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (NODE_MODULES / "@forge" / "manifest").is_dir():
        missing = f"@forge/manifest is not installed in {NODE_MODULES.relative_to(ROOT)} (.ci/run)"
    if missing is not None:
        if os.environ.get("CI") == "true" and not servers_required():
            pytest.fail(f"{missing} (CI=true)")
        skip_or_fail(missing)
    assert node is not None
    folder = tmp_path_factory.mktemp("forge-manifests")
    files = {"generated": folder / "generated.yml"}
    files["generated"].write_text(
        manifest_yaml(base_url=BASE_URL, app_key=APP_KEY, forge_app_id=APP_ID)
    )
    for name, (value, where) in BREAKS.items():
        files[name] = folder / f"{name}.yml"
        files[name].write_text(yaml.safe_dump(_broken(manifest, value, where), sort_keys=False))
    done = subprocess.run(
        [node, str(VALIDATOR), str(NODE_MODULES), *(str(path) for path in files.values())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(zip(files, json.loads(done.stdout), strict=True))


def test_forge_manifest_passes_atlassian_validation(validated: dict[str, Any]) -> None:
    assert validated["generated"]["errors"] == []
    assert validated["generated"]["success"] is True


@pytest.mark.parametrize("name", list(BREAKS))
def test_forge_manifest_validation_rejects_a_broken_manifest(
    validated: dict[str, Any], name: str
) -> None:
    # The check above must be able to fail.
    result = validated[name]
    assert result["success"] is False
    messages = " | ".join(error["message"] for error in result["errors"])
    assert BREAKS[name][0] in messages


def test_forge_manifest_yaml_round_trips_without_placeholders(manifest: dict[str, Any]) -> None:
    text = manifest_yaml(base_url=BASE_URL, app_key=APP_KEY, forge_app_id=APP_ID)
    assert "{{" not in text
    assert yaml.safe_load(text) == manifest


def test_forge_manifest_app_is_connect_on_forge(
    manifest: dict[str, Any], descriptor: dict[str, Any]
) -> None:
    app = manifest["app"]
    assert app["id"] == APP_ID
    assert app["connect"] == {"key": APP_KEY, "remote": "connect", "authentication": "jwt"}
    assert app["description"] == descriptor["description"]
    assert app["runtime"]["name"].startswith("nodejs")


def test_forge_manifest_remote_is_this_service_and_declares_stored_data(
    manifest: dict[str, Any],
) -> None:
    assert manifest["remotes"] == [
        {
            "key": "connect",
            "baseUrl": BASE_URL,
            "operations": ["storage"],
            "storage": {"inScopeEUD": True},
        }
    ]


def test_forge_manifest_connect_modules_agree_with_descriptor(
    manifest: dict[str, Any], descriptor: dict[str, Any]
) -> None:
    connect = manifest["connectModules"]
    declared = descriptor["modules"]
    assert set(connect) == {"jira:lifecycle", *(f"jira:{name}" for name in declared)}
    for name, value in declared.items():
        items = value if isinstance(value, list) else [value]
        if name == "webhooks":
            expected = [{"key": webhook_module_key(item), **item} for item in items]
        else:
            expected = items
            assert [m["key"] for m in connect[f"jira:{name}"]] == [m["key"] for m in items]
        assert connect[f"jira:{name}"] == expected
    (lifecycle,) = connect["jira:lifecycle"]
    assert {event: lifecycle[event] for event in FORGE_LIFECYCLE_EVENTS} == {
        event: descriptor["lifecycle"][event] for event in FORGE_LIFECYCLE_EVENTS
    }
    assert set(lifecycle) == {"key", *FORGE_LIFECYCLE_EVENTS}


def test_forge_manifest_module_keys_are_unique(manifest: dict[str, Any]) -> None:
    keys = [
        module["key"]
        for section in ("connectModules", "modules")
        for modules in manifest[section].values()
        for module in modules
    ]
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    assert repeated == []
    assert len(keys) >= 15


def test_forge_manifest_forge_modules_call_our_remote_with_system_token(
    manifest: dict[str, Any],
) -> None:
    modules = manifest["modules"]
    endpoints = {endpoint["key"]: endpoint for endpoint in modules["endpoint"]}
    (trigger,) = modules["trigger"]
    (scheduled,) = modules["scheduledTrigger"]
    assert trigger["events"] == ["avi:forge:installed:app"]
    assert trigger["endpoint"] == INSTALLED_ENDPOINT
    assert scheduled["interval"] == "hour"
    assert scheduled["endpoint"] == REFRESH_ENDPOINT
    for endpoint in endpoints.values():
        assert endpoint["remote"] == "connect"
        assert endpoint["auth"] == {"appSystemToken": {"enabled": True}}
    assert forge_endpoint_paths() == {
        INSTALLED_ENDPOINT: "/forge/events/installed",
        REFRESH_ENDPOINT: "/forge/scheduled/refresh",
    }


# The Jira calls of connector/jira/client.py, as (method, path template, which OpenAPI file).
# Their "Current" OAuth scopes, read from the shared specs, must be exactly the Forge product
# scopes the manifest asks for: no call lacks its scope, and no scope is asked for in vain.
JIRA_CALLS = [
    ("get", "/rest/api/3/serverInfo"),
    ("get", "/rest/api/3/myself"),
    ("get", "/rest/api/3/project/{projectIdOrKey}"),
    ("get", "/rest/api/3/project/search"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}"),
    ("get", "/rest/api/3/field"),
    ("post", "/rest/api/3/field"),
    ("get", "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes"),
    ("get", "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"),
    ("get", "/rest/api/3/user/search"),
    ("post", "/rest/api/3/permissions/check"),
    ("get", "/rest/api/3/mypermissions"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}"),
    ("put", "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}"),
    ("get", "/rest/api/3/search/jql"),
    ("post", "/rest/api/3/issue"),
    ("post", "/rest/api/3/issue/{issueIdOrKey}/comment"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}/comment"),
    ("get", "/rest/api/3/issue/{issueIdOrKey}/comment/{id}"),
    ("post", "/rest/api/3/issue/{issueIdOrKey}/attachments"),
    ("post", "/rest/servicedeskapi/customer"),
    ("post", "/rest/servicedeskapi/request/{issueIdOrKey}/participant"),
]


def _current_scopes(method: str, path: str) -> set[str]:
    name = "jsm-servicedesk" if path.startswith("/rest/servicedeskapi") else "jira-platform"
    spec = json.loads(shared_path("specs", f"{name}.openapi.json").read_text(encoding="utf-8"))
    operation = spec["paths"][path][method]
    (current,) = [
        scheme for scheme in operation["x-atlassian-oauth2-scopes"] if scheme["state"] == "Current"
    ]
    return set(current["scopes"])


def test_forge_manifest_scopes_are_what_our_jira_calls_need(
    manifest: dict[str, Any], descriptor: dict[str, Any]
) -> None:
    scopes = manifest["permissions"]["scopes"]
    assert len(scopes) == len(set(scopes))
    connect = {scope for scope in scopes if scope.endswith(":connect-jira")}
    assert connect == {
        f"{scope.lower().replace('_', '-')}:connect-jira" for scope in descriptor["scopes"]
    }
    needed = set().union(*(_current_scopes(method, path) for method, path in JIRA_CALLS))
    assert set(scopes) - connect == {"read:app-system-token", *needed}
