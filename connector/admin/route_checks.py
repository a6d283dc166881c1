"""A source's address routing, checked against Jira when the source is saved.

Each rule creates issues in its own project, with its own issue type and defaults, so each
gets the checks the source's own project gets (`connector.admin.source_checks`): the project
and issue type exist for the app, required fields are filled, mapped and default fields fit.
Plus-address projects take the source's issue type and defaults. Otherwise a typo in a rule
would only show as a `failed` row for every message sent to that address.
"""

from __future__ import annotations

from connector.admin.endpoint import ApiCall
from connector.admin.errors import ApiError
from connector.admin.jira_calls import jira_client, jira_unavailable
from connector.admin.source_checks import check_policy_fields
from connector.jira.errors import JiraError
from connector.jira.fields import index_fields
from connector.jira.metadata import check_create_metadata
from connector.mail_source import SourcePolicy, SourceSpec
from connector.sources.errors import SourceConfigError

_POLICY_FIELDS = frozenset({"field_defaults", "field_mappings"})


def check_routes_in_jira(call: ApiCall, spec: SourceSpec) -> None:
    """Raise `ApiError` 400 naming the rule's setting to fix, or 502 when Jira cannot answer."""
    targets: list[tuple[str, str, str, SourcePolicy]] = []
    for index, rule in enumerate(spec.address_rules):
        policy = spec.policy.with_overrides(rule.defaults)
        targets.append(
            (
                f"address_rules[{index}]",
                rule.project_key,
                rule.issue_type or spec.issue_type,
                policy,
            )
        )
    for key in spec.plus_projects:
        targets.append(("plus_projects", key, spec.issue_type, spec.policy))
    if not targets:
        return
    checked: set[tuple[str, str, str]] = set()
    with jira_client(call) as client:
        try:
            fields = index_fields(client.get_fields())
        except JiraError as exc:
            raise jira_unavailable(exc, "read Jira's fields") from exc
        for name, project_key, issue_type, policy in targets:
            once = (project_key, issue_type, repr(policy))
            if once in checked:
                continue
            checked.add(once)
            try:
                check_policy_fields(policy, fields, client.dialect)
                check_create_metadata(
                    client,
                    project_key,
                    issue_type,
                    field_defaults=policy.field_defaults,
                    mapped_fields=[
                        m.field_id for m in policy.field_mappings if m.source == "sender"
                    ],
                )
            except SourceConfigError as exc:
                raise _refusal(name, exc) from exc
            except JiraError as exc:
                raise jira_unavailable(exc, f"check {project_key} in Jira") from exc


def _refusal(name: str, exc: SourceConfigError) -> ApiError:
    if name == "plus_projects":
        return ApiError(400, f"plus_projects: {exc.problem}", field="plus_projects")
    setting = f"defaults.{exc.field}" if exc.field in _POLICY_FIELDS else exc.field
    field = f"{name}.{setting}"
    return ApiError(400, f"{field}: {exc.problem}", field=field)
