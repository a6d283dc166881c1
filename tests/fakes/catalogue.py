"""Fixed reference data of the fake Jira site: fields, permissions, issue types, priorities."""

from __future__ import annotations

from typing import Any

# System fields as `GET /rest/api/3/field` lists them (name, schema). Only the ones an app
# touching issues, comments and attachments sees; ids are Jira's own.
SYSTEM_FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "environment": ("Environment", {"type": "string", "system": "environment"}),
    "project": ("Project", {"type": "project", "system": "project"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}),
    "creator": ("Creator", {"type": "user", "system": "creator"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "priority": ("Priority", {"type": "priority", "system": "priority"}),
    "duedate": ("Due date", {"type": "date", "system": "duedate"}),
    "attachment": ("Attachment", {"type": "array", "items": "attachment", "system": "attachment"}),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}),
    "status": ("Status", {"type": "status", "system": "status"}),
    "created": ("Created", {"type": "datetime", "system": "created"}),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}),
}

# Fields a create or edit request may carry in `fields`; the rest are computed by Jira.
SETTABLE_SYSTEM_FIELDS = frozenset(
    {
        "summary",
        "description",
        "environment",
        "project",
        "issuetype",
        "reporter",
        "assignee",
        "labels",
        "priority",
        "duedate",
    }
)

# What the default create screen shows, in screen order.
CREATE_SCREEN_FIELDS = (
    "summary",
    "issuetype",
    "project",
    "description",
    "reporter",
    "assignee",
    "labels",
    "priority",
    "attachment",
)
ALWAYS_REQUIRED = frozenset({"summary", "issuetype", "project"})
# Fields whose v3 value must be an ADF document (developer.atlassian.com/cloud/jira/platform/
# rest/v3/intro/#version: "Atlassian Document Format in ... description, environment,
# textarea type custom fields and comments").
ADF_SYSTEM_FIELDS = frozenset({"description", "environment"})

# schema_type accepted by add_custom_field -> (schema type, items, custom type key suffix)
CUSTOM_FIELD_TYPES: dict[str, tuple[str, str | None, str]] = {
    "string": ("string", None, "textfield"),
    "textarea": ("string", None, "textarea"),
    "url": ("string", None, "url"),
    "number": ("number", None, "float"),
    "date": ("date", None, "datepicker"),
    "datetime": ("datetime", None, "datetime"),
    "option": ("option", None, "select"),
    "user": ("user", None, "userpicker"),
    "labels": ("array", "string", "labels"),
}
CUSTOM_TYPE_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"

GLOBAL_PERMISSIONS = {
    "ADMINISTER": "Administer Jira",
    "SYSTEM_ADMIN": "Administer Jira system",
    "USER_PICKER": "Browse users and groups",
    "CREATE_SHARED_OBJECTS": "Share dashboards and filters",
    "BULK_CHANGE": "Make bulk changes",
}
PROJECT_PERMISSIONS = {
    "ADMINISTER_PROJECTS": "Administer Projects",
    "BROWSE_PROJECTS": "Browse Projects",
    "CREATE_ISSUES": "Create Issues",
    "EDIT_ISSUES": "Edit Issues",
    "DELETE_ISSUES": "Delete Issues",
    "ASSIGN_ISSUES": "Assign Issues",
    "ASSIGNABLE_USER": "Assignable User",
    "MODIFY_REPORTER": "Modify Reporter",
    "TRANSITION_ISSUES": "Transition Issues",
    "LINK_ISSUES": "Link Issues",
    "ADD_COMMENTS": "Add Comments",
    "EDIT_ALL_COMMENTS": "Edit All Comments",
    "EDIT_OWN_COMMENTS": "Edit Own Comments",
    "DELETE_ALL_COMMENTS": "Delete All Comments",
    "DELETE_OWN_COMMENTS": "Delete Own Comments",
    "CREATE_ATTACHMENTS": "Create Attachments",
    "DELETE_ALL_ATTACHMENTS": "Delete All Attachments",
    "DELETE_OWN_ATTACHMENTS": "Delete Own Attachments",
    "MANAGE_WATCHERS": "Manage Watchers",
    "WORK_ON_ISSUES": "Work On Issues",
}
ALL_PERMISSIONS = {**GLOBAL_PERMISSIONS, **PROJECT_PERMISSIONS}
# What a freshly installed app holds when a test does not say otherwise: enough to file mail,
# not enough to pass an administrator check.
DEFAULT_PERMISSIONS = frozenset(
    {
        "BROWSE_PROJECTS",
        "CREATE_ISSUES",
        "EDIT_ISSUES",
        "ADD_COMMENTS",
        "CREATE_ATTACHMENTS",
        "MODIFY_REPORTER",
        "ASSIGN_ISSUES",
        "USER_PICKER",
    }
)

# Company-managed projects share issue types site-wide, so a name always maps to one id.
WELL_KNOWN_ISSUE_TYPE_IDS = {
    "Epic": "10000",
    "Task": "10001",
    "Bug": "10002",
    "Story": "10003",
    "Subtask": "10004",
    "Sub-task": "10004",
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
DEFAULT_PRIORITY_ID = "3"

# Jira Cloud's limits (support.atlassian.com/jira-cloud-administration/docs/
# jira-cloud-application-limits/): text fields hold 32,767 characters, summary 255,
# an entity property value 32,768 bytes.
TEXT_FIELD_LIMIT = 32_767
SUMMARY_LIMIT = 255
PROPERTY_VALUE_LIMIT = 32_768
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
