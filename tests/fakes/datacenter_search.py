"""REST resources of the fake Jira Data Center for reading what changed: JQL search, one
comment (with `expand=renderedBody`), registered on `tests.fakes.datacenter_rest.ROUTES`.

The search understands the JQL the connector sends a Data Center site, parsed by the Cloud
fake's parser (`tests.fakes.jql`): `project = X`, `key = X`, `labels = "mail-..."` (the
marker label crash healing looks for) and `updated >= "-5m"` / `created` (relative dates,
at minute precision as Jira compares them), joined by AND, with one ORDER BY. Anything else
is a 400, so a query the fake cannot answer fails the test rather than matching everything.

`renderedBody` is the comment's wiki markup as HTML. The fake renders only paragraphs and
line breaks and escapes everything else (real Jira renders all of wiki markup): enough to
tell that the connector reads Jira's HTML and not the markup source, and that text which
looks like HTML stays text.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.datacenter_rest import Answer, DcSite, comment_json, issue_fields, route
from tests.fakes.jql import Clause, JqlError, parse_jql
from tests.fakes.routing import Call
from tests.fakes.site import JiraError

_EXACT = {"project", "key", "labels"}
_DATES = {"created", "updated"}
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


@route("GET", "/search")
def search(site: DcSite, call: Call) -> Answer:
    try:
        query = parse_jql(call.arg("jql") or "")
        for clause in query.clauses:
            _check(clause)
        if query.order_by not in (None, "created", "updated", "key"):
            raise JqlError(f"the fake cannot order by {query.order_by!r}")
    except JqlError as exc:
        raise JiraError(400, [str(exc)]) from exc
    found = [i for i in site.issues.values() if all(_matches(i, c) for c in query.clauses)]
    stamp = "updated" if query.order_by == "updated" else "created"
    found.sort(key=lambda i: (i[stamp], int(i["id"])), reverse=query.descending)
    wanted = {f for value in call.query.get("fields", []) for f in value.split(",") if f}
    limit = call.int_arg("maxResults", 50)
    issues = []
    for issue in found[:limit]:
        fields = {k: v for k, v in issue_fields(site, issue).items() if k in wanted}
        issues.append({"id": issue["id"], "key": issue["key"], "fields": fields})
    body = {"startAt": 0, "maxResults": limit, "total": len(found), "issues": issues}
    return 200, body, None


def _check(clause: Clause) -> None:
    name = clause.field.lower()
    if name in _EXACT and clause.operator == "=":
        return
    if name in _DATES and clause.operator in (">=", ">") and _relative(clause.values[0]):
        return
    raise JqlError(f"the fake Data Center cannot search {clause.field} {clause.operator}")


def _relative(value: str) -> timedelta | None:
    if len(value) < 3 or value[0] != "-" or value[-1] not in _UNIT_SECONDS:
        return None
    if not value[1:-1].isdigit():
        return None
    return timedelta(seconds=int(value[1:-1]) * _UNIT_SECONDS[value[-1]])


def _matches(issue: dict[str, Any], clause: Clause) -> bool:
    name, value = clause.field.lower(), clause.values[0]
    if name == "project":
        return bool(issue["key"].rsplit("-", 1)[0].casefold() == value.casefold())
    if name == "key":
        return bool(issue["key"].casefold() == value.casefold())
    if name == "labels":
        return value in (issue["fields"].get("labels") or [])
    span = _relative(value)
    assert span is not None  # checked by _check
    bound = (datetime.now(UTC) - span).replace(second=0, microsecond=0)
    when = datetime.strptime(issue[name], "%Y-%m-%dT%H:%M:%S.%f%z")
    return when >= bound if clause.operator == ">=" else when > bound


@route("GET", "/issue/{key}/comment/{commentId}")
def get_comment(site: DcSite, call: Call) -> Answer:
    issue = site.find_issue(call.params["key"])
    comment = next((c for c in issue["comments"] if c["id"] == call.params["commentId"]), None)
    if comment is None:
        raise JiraError(404, ["Can not find a comment for the id."])
    expand = {e for value in call.query.get("expand", []) for e in value.split(",")}
    shown = comment_json(site, issue, comment)
    if "properties" in expand:
        shown["properties"] = [{"key": k, "value": v} for k, v in comment["properties"].items()]
    if "renderedBody" in expand:
        shown["renderedBody"] = render_wiki(comment["body"])
    return 200, shown, None


def render_wiki(markup: str) -> str:
    """Paragraphs and line breaks as HTML, everything else escaped (see the module's note)."""
    paragraphs = [p for p in markup.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br/>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
