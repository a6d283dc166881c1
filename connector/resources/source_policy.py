"""A mail source's policy, declared once: how the pipeline treats the source's mail.

The body reader type-checks `policy` (and an address rule's `defaults`) against `SETTINGS`,
the OpenAPI `SourcePolicy` schema is derived from it, and `SourcePolicy`
(`connector.mail_source`), the typed value, takes its bounds from it; a unit test holds the
value's fields to it. Settings left out take the value's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.resources.declare import Setting
from connector.resources.schema import closed_object, string

FIELD_MAPPING_SOURCES = "sender, sender_name, recipients, cc, subject, header:<Name> or body:<Key>"

SETTINGS: tuple[Setting, ...] = (
    Setting("subject_projects", "strings", "project keys matched in subjects; empty: the source's"),
    Setting("comment_issue_types", "strings", "issue types that take mail comments; empty: all"),
    Setting("ignored_senders", "strings", "addresses or fragments such as @spam.example"),
    Setting("allowed_domains", "strings", "empty: every domain"),
    Setting("drop_automatic", "boolean"),
    Setting(
        "rate_limit_per_hour", "integer", "per sender; 0 turns it off", minimum=0, maximum=10000
    ),
    Setting("default_reporter", "string", "account id", nullable=True),
    Setting("default_assignee", "string", "account id", nullable=True),
    Setting("labels", "strings"),
    Setting("priority", "string", nullable=True),
    Setting(
        "language",
        "string",
        "BCP 47 tag (en, de-CH) written to the custom field mapped to the language role",
        nullable=True,
    ),
    Setting("skip_images_below_bytes", "integer", minimum=0),
    Setting("field_defaults", "object", schema={"type": "object", "additionalProperties": True}),
    Setting(
        "field_mappings",
        "array",
        schema={
            "type": "array",
            "items": closed_object(
                {"source": string(FIELD_MAPPING_SOURCES), "field_id": string()},
                ["source", "field_id"],
            ),
        },
    ),
    Setting(
        "jsm_customers",
        "boolean",
        "service projects: make a sender without a Jira account a customer and Cc'd people "
        "request participants",
    ),
)

SENDER_VERIFICATION = ("verify", "trust_mailbox", "reject_unverified")
SETTINGS += (
    Setting(
        "sender_verification",
        "string",
        "verify: a sender's Jira account speaks for mail only when it is authenticated (DKIM "
        "or DMARC); trust_mailbox: the mailbox provider is trusted to refuse forgeries; "
        "reject_unverified: quarantine unauthenticated mail from Jira users' addresses",
        choices=SENDER_VERIFICATION,
    ),
    Setting(
        "trusted_authserv_ids",
        "strings",
        "servers whose Authentication-Results count; empty: the provider's or the mailbox host's",
    ),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
DESCRIPTION = "how the pipeline treats this source's mail; settings left out take their defaults"
