"""Address routing in the admin API: "which rule would this mail match", and which sources and
addresses feed a project.

The route check runs the pipeline's own `decide()` (through `connector.preview.routing_dict`)
on a pasted header block or an uploaded `.eml`, against the saved source or against edited
rules sent with the message, so an admin can try rules before saving them. Nothing is stored.
With a whole message it is also "what would this mail become?": the answer carries what
agents would read (`agents_view`), as `connector preview --source` prints it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError
from connector.admin.serialize import iso, status_of
from connector.admin.source_body import address_rules
from connector.admin.sources_api import find_source, query_zone
from connector.budget import OverBudget
from connector.mail.inbound import UnparseableEmail
from connector.mail_source import MailSource, SourceSpec
from connector.pipeline.decide import Facts
from connector.pipeline.routes import own_domains
from connector.pipeline.sender_check import check_sender, trusted_servers
from connector.pipeline.understanding import Understanding
from connector.preview import preview_dict, routing_dict
from connector.routing.addresses import PROJECT_KEY, base_address
from connector.routing.match import thread_digests
from connector.sources.errors import SourceConfigError

_CHECK_KEYS = frozenset({"headers", "eml", "address_rules", "plus_projects", "unrouted"})


def route_check(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/route-check"""
    source = find_source(call)
    body = call.body()
    unknown = sorted(set(body) - _CHECK_KEYS)
    if unknown:
        raise ApiError(400, f"{unknown[0]}: is not an input of the route check", field=unknown[0])
    spec = _edited(source.spec, body)
    raw = _message_bytes(body)
    field = "headers" if "headers" in body else "eml"
    try:
        understanding = call.runtime.reader.understand(raw, tenant=call.tenant.id)
    except UnparseableEmail as exc:
        raise ApiError(400, f"{field}: is not an email: {exc.reason}", field=field) from exc
    except OverBudget as exc:
        # As the pipeline does: route the headers, which is what the pipeline would route.
        understanding = call.runtime.reader.unreadable(raw, exc.reason, tenant=call.tenant.id)
    email = understanding.email
    known = call.runtime.threads.lookup(call.tenant.id, thread_digests(email))
    sender = email.sender
    sender_auth = check_sender(
        call.runtime.reader,
        raw,
        sender.address if sender else None,
        servers=trusted_servers(spec),
        lookup=call.runtime.key_lookup,
        own_domains=own_domains(spec),
        tenant=call.tenant.id,
    )
    decision = routing_dict(understanding, spec, Facts(known=known), sender_auth)
    log_action(call, "route_checked", source_id=source.id, outcome=decision["outcome"])
    return Answer(
        {
            **decision,
            "message": {
                "sender": sender.address if sender else None,
                "subject": email.subject,
                "message_id": email.message_id,
            },
            "preview": agents_view(understanding),
        }
    )


def agents_view(understanding: Understanding) -> dict[str, Any]:
    """What agents would read, as `connector preview` shows it (`preview_dict`, the same
    reading): the classification, the texts of a comment and of a new issue's description as
    Jira renders them (not their ADF), the recipients and the attachments."""
    data = preview_dict(understanding)

    def text(key: str) -> dict[str, Any]:
        return {name: value for name, value in data[key].items() if name != "adf"}

    return {
        "classification": data["classification"],
        "reply": text("reply"),
        "description": text("description"),
        "to": data["to"],
        "cc": data["cc"],
        "attachments": [
            {name: item[name] for name in ("filename", "content_type", "size", "inline")}
            for item in data["attachments"]
        ],
    }


def _edited(spec: SourceSpec, body: dict[str, Any]) -> SourceSpec:
    """The saved spec, with the routing settings the body brings (unsaved edits)."""
    changes: dict[str, Any] = {}
    try:
        if "address_rules" in body:
            changes["address_rules"] = address_rules(body["address_rules"])
        if "plus_projects" in body:
            keys = body["plus_projects"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise SourceConfigError("plus_projects", "must be a list of strings")
            changes["plus_projects"] = tuple(keys)
        if "unrouted" in body:
            if not isinstance(body["unrouted"], str):
                raise SourceConfigError("unrouted", "must be a string")
            changes["unrouted"] = body["unrouted"]
        return spec.with_changes(**changes) if changes else spec
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc


def _message_bytes(body: dict[str, Any]) -> bytes:
    """The message from `headers` (a pasted header block) or `eml` (base64 of the file)."""
    if ("headers" in body) == ("eml" in body):
        raise ApiError(
            400, "headers: send either headers (pasted) or eml (base64)", field="headers"
        )
    if "headers" in body:
        text = body["headers"]
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "headers: must be the header block as text", field="headers")
        # A pasted block ends at its first empty line; what follows it, if anything, is body.
        lines = text.strip("\r\n").replace("\r\n", "\n").split("\n")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    encoded = body["eml"]
    if not isinstance(encoded, str) or not encoded.strip():
        raise ApiError(400, "eml: must be the message file in base64", field="eml")
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"eml: is not base64: {exc}", field="eml") from exc


def project_feeds(call: ApiCall) -> Answer:
    """GET /api/v1/projects/{project_key}/feeds: the tenant's sources that create issues in the
    project, and by which addresses, with each source's state."""
    key = call.path_params.get("project_key")
    if not isinstance(key, str) or not PROJECT_KEY.match(key):
        raise ApiError(400, f"project_key: {key!r} is not a Jira project key", field="project_key")
    feeds = []
    today = call.runtime.email_log.messages_today(call.tenant.id, zone=query_zone(call))
    for source in call.runtime.sources.search(call.tenant.id):
        addresses = feed_addresses(source.spec, key)
        if addresses:
            feeds.append(
                {
                    **_feed(source, addresses),
                    "last_poll_at": iso(source.last_poll_at),
                    "messages_today": today.get(source.id, 0),
                }
            )
    return Answer({"project_key": key, "feeds": feeds})


def _feed(source: MailSource, addresses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "source_id": source.id,
        "source_name": source.spec.name,
        "mailbox": source.spec.username,
        "enabled": source.enabled,
        "status": status_of(source),
        "status_message": source.status_message,
        "addresses": addresses,
    }


def feed_addresses(spec: SourceSpec, project_key: str) -> list[dict[str, Any]]:
    """How mail of this source reaches the project: rules, plus addresses, or the fallback."""
    found: list[dict[str, Any]] = []
    for index, rule in enumerate(spec.address_rules):
        if rule.project_key == project_key:
            found.append(
                {
                    "kind": "rule",
                    "rule_index": index,
                    "match": rule.match,
                    "pattern": rule.pattern,
                    "issue_type": rule.issue_type or spec.issue_type,
                }
            )
    if project_key in spec.plus_projects:
        local, at, domain = base_address(spec.username).rpartition("@")
        pattern = (
            f"{local}+{project_key}@{domain}" if at else f"<any address of ours>+{project_key}@"
        )
        found.append(
            {
                "kind": "plus",
                "rule_index": None,
                "match": "exact",
                "pattern": pattern,
                "issue_type": spec.issue_type,
            }
        )
    if spec.project_key == project_key and spec.unrouted == "source":
        routed = bool(spec.address_rules or spec.plus_projects)
        found.append(
            {
                "kind": "unrouted" if routed else "all",
                "rule_index": None,
                "match": None,
                "pattern": None,
                "issue_type": spec.issue_type,
            }
        )
    return found
