"""`GET /api/v1/openapi.json`: the admin API described in OpenAPI 3.0.

Hand-written, so it says what the handlers mean rather than what a framework guesses; a test
holds it to the routes actually registered (same paths, same methods) and sends its examples
to the API.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.admin.openapi_operations import body, operation, path_id, query
from connector.admin.openapi_outbound import OUTBOUND_PATHS, OUTBOUND_SCHEMAS
from connector.admin.openapi_schemas import SCHEMAS
from connector.resources.declare import PROJECT_KEY_PATTERN
from connector.resources.schema import Schema


def _download(found: Schema) -> Schema:
    """An operation whose success is the message itself, not JSON."""
    found["responses"]["200"] = {
        "description": "the message (message/rfc822), as an attachment",
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
    return found


_TZ = query(
    "tz", 'IANA time zone "today" is counted in (messages_today), e.g. Europe/Berlin; UTC if absent'
)
_DAY: Schema = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
_SOURCE_EXAMPLE: Schema = {
    "name": "Support inbox",
    "description": "support@example.com, read by the service desk",
    "provider": "custom",
    "protocol": "imap",
    "host": "imap.example.com",
    "port": 993,
    "security": "ssl",
    "verify_tls": True,
    "username": "support@example.com",
    "password": "app-password",
    "folder": "INBOX",
    "interval_minutes": 1,
    "push": True,
    "timeout_seconds": 10,
    "after_processing": "move",
    "success_folder": "Processed",
    "failure_folder": "Failed",
    "exclusion_folders": ["Spam"],
    "project_key": "SUP",
    "issue_type": "Task",
    "unmatched": "create",
    "policy": {"ignored_senders": ["@spam.example"], "labels": ["email"]},
    "address_rules": [
        {
            "match": "exact",
            "pattern": "billing@example.com",
            "project_key": "BIL",
            "issue_type": None,
            "defaults": {"labels": ["billing"], "priority": "High"},
        },
        {"match": "domain", "pattern": "*@partners.example.com", "project_key": "PRT"},
    ],
    "plus_projects": ["SUP", "OPS"],
    "unrouted": "source",
}
_UPDATE_EXAMPLE: Schema = {k: v for k, v in _SOURCE_EXAMPLE.items() if k != "password"}
_ROUTE_CHECK_EXAMPLE: Schema = {
    "headers": "Delivered-To: helpdesk@example.com\nX-Original-To: billing@example.com\n"
    "From: Ada <ada@customer.example>\nTo: billing@example.com\nSubject: Invoice 42",
}
_ENABLE_EXAMPLE: Schema = {"process_existing_since": "2025-01-06", "acknowledge": True}
_WORKAROUND_EXAMPLE: Schema = {
    "email": "jira-lookup@example.com",
    "api_token": "ATATT3xFfGF0-token",
}
_WORKAROUND_TEST_EXAMPLE: Schema = {"project_key": "SUP", "lookup": "someone@example.com"}

_OAUTH_EXAMPLE: Schema = {
    "provider": "google",
    "client_id": "1234-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-client-secret",
}

_SOURCE_ID = path_id("source_id")
_PROJECT_KEY = {
    "name": "project_key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": PROJECT_KEY_PATTERN},
}
_ENTRY_ID = path_id("entry_id")


_PATHS: Schema = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.0 document"}},
        }
    },
    "/api/v1/tenant": {
        "get": operation(
            "The Jira site the token belongs to (any valid token; no administrator check)",
            (200, "the site", "Tenant"),
            admin=False,
        )
    },
    "/api/v1/mail-sources": {
        "get": operation(
            "List mail sources with their status",
            (200, "the sources, oldest first", "MailSourceList"),
            errors=(400,),
            parameters=[query("q", "text in name, description, host or username"), _TZ],
        ),
        "post": operation(
            "Create a mail source (disabled until enabled)",
            (201, "created", "MailSource"),
            errors=(400,),
            body=body("SourceSettings", _SOURCE_EXAMPLE),
        ),
    },
    "/api/v1/mail-sources/test": {
        "post": operation(
            "Diagnose settings before saving them (the password is required)",
            (200, "each step of the connection, with the server's words", "Diagnosis"),
            errors=(400, 409),
            body=body("SourceSettings", _SOURCE_EXAMPLE),
        )
    },
    "/api/v1/mail-sources/{source_id}": {
        "parameters": [_SOURCE_ID],
        "get": operation(
            "Read a mail source",
            (200, "the source", "MailSource"),
            errors=(400, 404),
            parameters=[_TZ],
        ),
        "put": operation(
            "Replace a mail source's settings (without password: keep the stored one)",
            (200, "the source as saved", "MailSource"),
            errors=(400, 404),
            body=body("SourceSettings", _UPDATE_EXAMPLE),
        ),
        "delete": operation(
            "Delete a mail source; issues, threads and participants are kept",
            (200, "what was kept and what was removed", "Deleted"),
            errors=(404,),
        ),
    },
    "/api/v1/mail-sources/{source_id}/test": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Diagnose a saved source, or edited settings with its stored password",
            (200, "each step of the connection", "Diagnosis"),
            errors=(400, 404, 409),
            body=body("SourceSettings", required=False),
        ),
    },
    "/api/v1/mail-sources/{source_id}/enable": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Connect and start polling; answers how many existing messages will be processed",
            (200, "enabled, with the estimate", "Enabled"),
            errors=(400, 404, 409, 502),
            body=body("EnableOptions", _ENABLE_EXAMPLE, required=False),
        ),
    },
    "/api/v1/mail-sources/{source_id}/disable": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Stop polling; the position in the mailbox is kept",
            (200, "disabled", "Disabled"),
            errors=(404,),
        ),
    },
    "/api/v1/mail-sources/{source_id}/poll": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Poll now: starts a poll and answers at once; its progress is at the Location "
            "given (this path, GET) and in the source's `poll`",
            (202, "the poll is asked for or running", "PollStatus"),
            errors=(404, 409),
        ),
        "get": operation(
            "How far the source's latest poll got (messages fetched, processed and failed so "
            "far), or that one was asked for and has not started",
            (200, "the latest poll; null when the source was never polled", "PollStatus"),
            errors=(404,),
        ),
    },
    "/api/v1/mail-sources/{source_id}/oauth/start": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Sign the source in with Google or Microsoft (OAuth2, the tenant's own app); the "
            "provider sends the browser back to GET /oauth/callback (no JWT: the single-use "
            "state authenticates it), which stores the tokens encrypted",
            (200, "the sign-in URL, or connected (application access)", "OAuthStarted"),
            errors=(400, 404, 409, 502),
            body=body("OAuthStart", _OAUTH_EXAMPLE),
        ),
    },
    "/api/v1/mail-sources/{source_id}/route-check": {
        "parameters": [_SOURCE_ID],
        "post": operation(
            "Which address rule would this mail match: the decision trail for a pasted header "
            "block or a .eml, against the saved source or edited rules; nothing is stored",
            (200, "what the pipeline would do, and why", "RouteCheckResult"),
            errors=(400, 404),
            body=body("RouteCheck", _ROUTE_CHECK_EXAMPLE),
        ),
    },
    "/api/v1/projects/{project_key}/feeds": {
        "parameters": [_PROJECT_KEY],
        "get": operation(
            "The sources and addresses that create issues in a project, with their state; "
            "Jira administrators and administrators of the project may ask",
            (200, "the feeds; an empty list when none", "ProjectFeeds"),
            errors=(400, 502),
            parameters=[_TZ],
        ),
    },
    "/api/v1/settings/fields": {
        "get": operation(
            "The custom-field mapping, Jira's custom fields, and whether each mapped field is "
            "on the create screen",
            (200, "the mapping and what Jira has", "FieldSettings"),
            errors=(400, 502),
            parameters=[
                query("project_key", "check the create screen of this project"),
                query("issue_type", "and this issue type (default: each of the project's)"),
            ],
        ),
        "put": operation(
            "Replace the custom-field mapping (fields are checked against Jira)",
            (200, "the mapping as saved", "FieldSettings"),
            errors=(400, 502),
            body=body("FieldMappingUpdate"),
        ),
    },
    "/api/v1/settings/fields/create": {
        "post": operation(
            "Create a short text custom field in Jira for a role and map it",
            (200, "the mapping with the new field", "FieldSettings"),
            errors=(400, 409, 502),
            body=body("FieldCreate"),
        ),
    },
    "/api/v1/settings/workaround-user": {
        "get": operation(
            "The workaround user (never its token)", (200, "the user", "WorkaroundUser")
        ),
        "put": operation(
            "Set the workaround user; without api_token the stored token is kept. A Jira Data "
            "Center site uses none: refused with 409",
            (200, "the user as saved", "WorkaroundUser"),
            errors=(400, 409),
            body=body("WorkaroundUserUpdate", _WORKAROUND_EXAMPLE),
        ),
        "delete": operation(
            "Remove the workaround user; users are then looked up as the app",
            (200, "no user", "WorkaroundUser"),
        ),
    },
    "/api/v1/settings/workaround-user/test": {
        "post": operation(
            "Check the workaround user: sign in, find a user by address, see the project",
            (200, "each step; ok is true when all passed", "WorkaroundTestResult"),
            errors=(400, 409),
            body=body("WorkaroundTest", _WORKAROUND_TEST_EXAMPLE, required=False),
        ),
    },
    "/api/v1/email-log": {
        "get": operation(
            "Messages fetched, newest first",
            (200, "a page of entries", "LogEntryList"),
            errors=(400,),
            parameters=[
                query("source_id", "only this source's", {"type": "integer"}),
                query("outcome", "only this outcome", SCHEMAS["LogEntry"]["properties"]["outcome"]),
                query("q", "text in sender, subject, reason or issue key"),
                query("sender", "part of the sender's address or name"),
                query("project_key", "only mail that went (or was routed) to this project"),
                query("issue_key", "only mail in this issue"),
                query("received_from", "received on or after this UTC day", _DAY),
                query("received_to", "received on or before this UTC day", _DAY),
                query(
                    "before_id", "the next page: next_before_id of the last", {"type": "integer"}
                ),
                query("limit", "1 to 200, default 50", {"type": "integer"}),
            ],
        )
    },
    "/api/v1/email-log/{entry_id}": {
        "parameters": [_ENTRY_ID],
        "get": operation(
            "One entry with its headers and decision trail",
            (200, "the entry", "LogEntryDetail"),
            errors=(404,),
        ),
    },
    "/api/v1/email-log/{entry_id}/retry": {
        "parameters": [_ENTRY_ID],
        "post": operation(
            "Process a failed message again",
            (200, "the entry, pending again", "LogEntryDetail"),
            errors=(404, 409),
        ),
    },
    "/api/v1/email-log/{entry_id}/message": {
        "parameters": [_ENTRY_ID],
        "get": _download(
            operation(
                "The original message as it arrived (.eml), while the retention period keeps it",
                (200, "", "Error"),
                errors=(404,),
                error_descriptions={404: "no such entry, or its message is no longer kept"},
            )
        ),
    },
    "/api/v1/email-log/{entry_id}/process-anyway": {
        "parameters": [_ENTRY_ID],
        "post": operation(
            "Process an ignored message anyway (the admin knows better than the filters): at "
            "the source's next poll, with its ignored senders, domain list, auto-reply filter "
            "and rate limit off for it",
            (200, "the entry, pending again", "LogEntryDetail"),
            errors=(404, 409),
        ),
    },
    "/api/v1/email-log/retry": {
        "post": operation(
            "Process many failed messages again; each that cannot be retried says why",
            (200, "which went back to the queue and which not", "BulkRetryResult"),
            errors=(400,),
            body=body("BulkRetry", {"entry_ids": [41, 42]}),
        ),
    },
    "/api/v1/jira/projects": {
        "get": operation(
            "The Jira projects the app can see (for the set-up wizard)",
            (200, "the projects, by key", "JiraProjectList"),
            errors=(502,),
        )
    },
    "/api/v1/jira/users": {
        "get": operation(
            "Active Jira users whose name or email matches (to pick an address rule's assignee)",
            (200, "at most 20 users", "JiraUserList"),
            errors=(400, 502),
            parameters=[query("q", "part of a name or email")],
        )
    },
    "/api/v1/jira/projects/{project_key}/issue-types": {
        "parameters": [
            {"name": "project_key", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": operation(
            "The issue types the app may create in a project",
            (200, "the issue types", "JiraIssueTypeList"),
            errors=(400, 404, 502),
        ),
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Mail Connector for Jira: admin API",
            "version": "1",
            "description": "Every call needs `Authorization: JWT <token>`, a Connect context "
            "token from AP.context.getToken() (or a qsh token for the request) of a Jira "
            "administrator of the site. Secrets are write-only. Errors are "
            '`{"error": "...", "field": "<input at fault or null>"}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"ConnectJwt": []}],
        "paths": {**_PATHS, **OUTBOUND_PATHS},
        "components": {
            "securitySchemes": {
                "ConnectJwt": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "JWT <token>",
                }
            },
            "schemas": {**SCHEMAS, **OUTBOUND_SCHEMAS},
        },
    }


async def openapi_json(_request: Request) -> Response:
    return JSONResponse(document())
