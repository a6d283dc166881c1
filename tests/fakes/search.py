"""Answering parsed JQL against the fake site's issues."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.jql import Clause, JqlError, Query
from tests.fakes.site import Issue, JiraSite, account_id_of

_TEXT_FIELDS = frozenset({"summary", "text"})
_TEXT_OPERATORS = frozenset({"~", "!~"})
_EXACT_FIELDS = frozenset(
    {"project", "key", "issuekey", "id", "issuetype", "type", "labels"}
    | {"reporter", "creator", "assignee"}
)
# Jira compares keys and names without regard to case, account ids and labels exactly.
_CASE_BLIND_FIELDS = frozenset({"project", "key", "issuekey", "id", "issuetype", "type"})
_ORDERABLE = frozenset({"created", "key", "id", "issuekey", "updated"})
# Dates compare with relative values only ("-5m", "-2h", "-1d": before now), which need no
# time zone; Jira reads absolute ones in the searching user's zone.
_DATE_FIELDS = frozenset({"created", "updated"})
_DATE_OPERATORS = frozenset({">=", ">", "<=", "<"})
_RELATIVE = re.compile(r"^-(\d+)([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def search_issues(site: JiraSite, query: Query) -> list[Issue]:
    for clause in query.clauses:
        _check_searchable(site, clause)
    if query.order_by is not None and query.order_by not in _ORDERABLE:
        raise JqlError(f"fake Jira cannot order by {query.order_by!r}")
    found = [i for i in site.issues.values() if all(_matches(site, i, c) for c in query.clauses)]
    # Ids grow with creation, so they order by created and by key number alike.
    found.sort(key=lambda issue: int(issue.id), reverse=query.descending)
    return found


def _entity_property(site: JiraSite, clause: Clause) -> tuple[str, str] | None:
    return clause.entity_property or site.property_aliases.get(clause.field)


def _check_searchable(site: JiraSite, clause: Clause) -> None:
    name = clause.field.lower()
    prop = _entity_property(site, clause)
    if prop is not None:
        # Jira only searches property values an app declared in jiraEntityProperties
        # (developer.atlassian.com/cloud/jira/platform/modules/entity-property/).
        if site.indexed_properties is not None and prop not in site.indexed_properties:
            raise JqlError(
                f"Field '{clause.field}' does not exist or you do not have permission to view it "
                "(the installed descriptor's jiraEntityProperties does not index it)."
            )
    elif name in _DATE_FIELDS:
        if clause.operator not in _DATE_OPERATORS or not _RELATIVE.match(clause.values[0]):
            raise JqlError(
                f"fake Jira compares {clause.field} only with >=, >, <=, < and a relative "
                'value such as "-5m"'
            )
        return
    elif name not in _TEXT_FIELDS | _EXACT_FIELDS:
        raise JqlError(
            f"Field '{clause.field}' does not exist or you do not have permission to view it."
        )
    if (clause.operator in _TEXT_OPERATORS) != (name in _TEXT_FIELDS):
        raise JqlError(
            f"The operator '{clause.operator}' is not supported by the '{clause.field}' field."
        )


def _matches(site: JiraSite, issue: Issue, clause: Clause) -> bool:
    name = clause.field.lower()
    if name in _DATE_FIELDS:
        return _date_matches(issue, name, clause)
    if clause.operator in _TEXT_OPERATORS:
        text = str(issue.fields.get("summary", ""))
        if name == "text":
            text += " " + json.dumps(issue.fields.get("description"))
        hit = clause.values[0].casefold() in text.casefold()
        return hit if clause.operator == "~" else not hit
    prop = _entity_property(site, clause)
    if prop is not None:
        candidates = _property_values(issue.properties.get(prop[0]), prop[1])
    else:
        candidates = _field_values(issue, name)
    fold = name in _CASE_BLIND_FIELDS
    wanted = {v.casefold() if fold else v for v in clause.values}
    have = {c.casefold() if fold else c for c in candidates}
    hit = bool(wanted & have)
    return not hit if clause.operator in ("!=", "not in") else hit


def _date_matches(issue: Issue, name: str, clause: Clause) -> bool:
    relative = _RELATIVE.match(clause.values[0])
    assert relative is not None  # checked by _check_searchable
    bound = datetime.now(UTC) - timedelta(seconds=int(relative[1]) * _UNIT_SECONDS[relative[2]])
    # Jira compares at minute precision.
    bound = bound.replace(second=0, microsecond=0)
    stamp = issue.created if name == "created" else issue.updated
    value = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return {
        ">=": value >= bound,
        ">": value > bound,
        "<=": value <= bound,
        "<": value < bound,
    }[clause.operator]


def _field_values(issue: Issue, name: str) -> list[str]:
    if name == "project":
        return [issue.project.key, issue.project.id]
    if name in ("key", "issuekey", "id"):
        return [issue.key, issue.id]
    if name in ("issuetype", "type"):
        return [issue.issue_type.name, issue.issue_type.id]
    if name == "labels":
        return [str(label) for label in issue.fields.get("labels") or []]
    users = {
        "reporter": issue.reporter_id,
        "creator": issue.creator_id,
        "assignee": account_id_of(issue.fields.get("assignee")),
    }
    found = users.get(name)
    return [found] if found else []


def _property_values(value: Any, path: str) -> list[str]:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    # Jira indexes each element of an array value, so any element can match.
    items = value if isinstance(value, list) else [value]
    return [
        json.dumps(item) if isinstance(item, bool) else str(item)
        for item in items
        if item is not None
    ]
