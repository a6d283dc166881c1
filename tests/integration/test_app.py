"""The web app's own routes: descriptor and health."""

from __future__ import annotations

from starlette.testclient import TestClient

from connector.app import create_app
from connector.runtime import Runtime
from connector.storage.db import make_engine
from tests.conftest import make_settings


def test_app_descriptor_is_rendered_with_base_url(sqlite_url: str, encryption_key: str) -> None:
    settings = make_settings(
        base_url="https://mail.example.com", database_url=sqlite_url, encryption_key=encryption_key
    )
    with TestClient(create_app(settings)) as client:
        descriptor = client.get("/atlassian-connect.json").json()
    assert descriptor["baseUrl"] == "https://mail.example.com"
    assert descriptor["links"]["self"] == "https://mail.example.com/atlassian-connect.json"


def test_app_healthz_database_answers_is_ok(sqlite_url: str, encryption_key: str) -> None:
    settings = make_settings(
        base_url="http://localhost:8000", database_url=sqlite_url, encryption_key=encryption_key
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_app_healthz_database_down_is_503(sqlite_url: str, encryption_key: str) -> None:
    settings = make_settings(
        base_url="http://localhost:8000",
        database_url="postgresql://nobody@127.0.0.1:1/none",
        encryption_key=encryption_key,
    )
    runtime = Runtime.create(settings, engine=make_engine(settings.database_url))
    app = create_app(settings, runtime=runtime, migrate_on_start=False)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "database unavailable"


def test_app_documentation_link_of_the_descriptor_is_a_page(
    sqlite_url: str, encryption_key: str
) -> None:
    settings = make_settings(
        base_url="https://mail.example.com", database_url=sqlite_url, encryption_key=encryption_key
    )
    with TestClient(create_app(settings), base_url="https://mail.example.com") as client:
        link = client.get("/atlassian-connect.json").json()["links"]["documentation"]
        assert link.startswith("https://mail.example.com/")
        response = client.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    # The README, rendered: its headings, its settings table, its commands.
    assert "<h2>Quick start</h2>" in page
    assert "<td><code>LOG_LEVEL</code></td>" in page
    assert "<code>connector rotate-key</code>" in page
