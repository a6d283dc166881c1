"""`GET /api/v1/jira/users?q=`: the Jira users an address rule's assignee is picked from."""

from __future__ import annotations

from tests.integration.admin_support import AdminApi


def test_jira_users_match_name_or_email_and_leave_out_the_inactive(api: AdminApi) -> None:
    api.jira.add_user("557058:bea", "bea@example.com", "Bea Billing")
    api.jira.add_user("557058:ben", "ben@example.com", "Ben Billing", active=False)
    api.jira.add_user("557058:bot", "bot@example.com", "Billing bot", account_type="app")
    api.jira.add_user("557058:ann", "ann@example.com", "Ann Other")
    response = api.call("GET", "/jira/users?q=billing")
    assert response.status_code == 200, response.text
    assert response.json()["users"] == [
        {"account_id": "557058:bea", "display_name": "Bea Billing", "email": "bea@example.com"}
    ]
    by_email = api.call("GET", "/jira/users?q=ann@").json()["users"]
    assert [user["account_id"] for user in by_email] == ["557058:ann"]


def test_jira_users_need_a_query(api: AdminApi) -> None:
    for query in ("", "?q=", "?q=%20", "?name=bea"):
        response = api.call("GET", f"/jira/users{query}")
        assert response.status_code == 400, query
        assert response.json()["field"] in ("q", "name")
