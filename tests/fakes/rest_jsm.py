"""Jira Service Management resources of the fake site (`/rest/servicedeskapi`): customers and
request participants. Bodies are checked against the JSM spec before a handler runs; errors
come in JSM's own shape (`errorMessage`), not the platform's."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.render import avatar_urls
from tests.fakes.routing import SERVICE_DESK_API, Call, Reply, Router
from tests.fakes.site import JiraError, JiraSite, User

router = Router(SERVICE_DESK_API)

SERVICE_DESK = "service_desk"


def _error(status: int, message: str) -> Reply:
    return Reply(
        status, {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "", "parameters": []}}
    )


def _user_dto(site: JiraSite, user: User) -> dict[str, Any]:
    return {
        "accountId": user.account_id,
        "displayName": user.display_name,
        "emailAddress": user.email,
        "active": user.active,
        "timeZone": "Etc/UTC",
        "_links": {
            "jiraRest": f"{site.base_url}/rest/api/2/user?accountId={user.account_id}",
            "avatarUrls": avatar_urls("user", user.account_id),
            "self": f"{site.base_url}/rest/api/2/user?accountId={user.account_id}",
        },
    }


@router.route("POST", "/customer", body="json")
def create_customer(site: JiraSite, call: Call) -> Reply:
    holder = call.caller_id if call.caller_id in site.permissions else None
    if not site.has_permission(holder, "ADMINISTER"):
        return _error(403, "You do not have permission to create customers.")
    body = call.json
    email = str(body.get("email") or "").strip()
    name = str(body.get("displayName") or body.get("fullName") or "").strip()
    if "@" not in email:
        return _error(400, "The email address is invalid.")
    if site.user_by_email(email) is not None:
        status = 409 if call.arg("strictConflictStatusCode") == "true" else 400
        return _error(status, "An account already exists for this email.")
    user = User(f"qm:{uuid.uuid4()}", email, name or email, account_type="customer")
    site.users[user.account_id] = user
    return Reply(201, _user_dto(site, user))


@router.route("POST", "/request/{issueIdOrKey}/participant", body="json")
def add_participants(site: JiraSite, call: Call) -> Reply:
    try:
        issue = site.find_issue(call.params["issueIdOrKey"])
    except JiraError:
        return _error(404, "The customer request does not exist.")
    if issue.project.type_key != SERVICE_DESK:
        return _error(404, "The issue is not a customer request of a service project.")
    account_ids = [str(a) for a in call.json.get("accountIds") or []]
    unknown = [a for a in account_ids if a not in site.users]
    if unknown:
        return _error(400, f"No user with account id {unknown[0]}.")
    for account_id in account_ids:
        if account_id not in issue.participants:
            issue.participants.append(account_id)
    values = [_user_dto(site, site.users[a]) for a in issue.participants]
    return Reply(
        200,
        {
            "_expands": [],
            "size": len(values),
            "start": 0,
            "limit": 50,
            "isLastPage": True,
            "_links": {"base": f"{site.base_url}{SERVICE_DESK_API}", "context": ""},
            "values": values,
        },
    )
