"""A valid mail source for unit tests of routing and decisions: an IMAP mailbox feeding SUP."""

from __future__ import annotations

from typing import Any

from connector.mail_source import SourcePolicy, SourceSpec
from connector.routing.addresses import AddressRule


def source_spec(*rules: AddressRule, **changes: Any) -> SourceSpec:
    values: dict[str, Any] = {
        "name": "Helpdesk",
        "protocol": "imap",
        "host": "imap.example.com",
        "port": 993,
        "username": "helpdesk@example.com",
        "project_key": "SUP",
        "issue_type": "Task",
        "policy": SourcePolicy(labels=("email",), default_assignee="acc-sup"),
        "address_rules": rules,
    }
    values.update(changes)
    return SourceSpec(**values)
