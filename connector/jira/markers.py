"""Finding the issue a message made, on a site where our issue property is not searchable.

Crash healing (`connector.pipeline.decide`) asks Jira for the issue an interrupted attempt
may have created. On a site that installed the app, the message digest is an issue property
that the app descriptor's `jiraEntityProperties` indexes, so JQL finds it. A site connected
without an install (`connector site add`) has no descriptor: Jira indexes no property of
ours, and `issue.property[...]` in JQL fails there.

The choice for those sites: a label we control, `mail-<first 16 hex digits of the digest>`,
set in the same create call as the property, and looked up with `labels = "..."`; each issue
found is then confirmed by reading its (unindexed) property, so a label someone copied onto
another issue, or two digests sharing 64 bits, cannot make us take the wrong issue.

Why a label rather than a search of the issues created around the attempt ("created within a
few seconds of it, by our account, then check each one's property"):
- the label is written atomically with the issue, so it exists exactly when the issue does;
  a time window depends on when the attempt began (which a crash may not leave behind), on
  the clocks of two machines, and on how long the worker stayed down;
- `labels` is a field Jira itself indexes on every site and deployment (Cloud and Data
  Center alike), with no app and no admin step;
- the lookup is one search and, normally, one property read, whatever the site's volume; a
  window search reads every issue the account made in it.
The cost is a label on each issue made from mail, visible to agents; it is short, says
where the issue came from, and Jira's own search index delay applies to it as to the
property (the same settling wait before the lookup covers both).
"""

from __future__ import annotations

from connector.jira.client import JiraClient

MARKER_PREFIX = "mail-"
MARKER_DIGITS = 16
# More issues with one label than this means someone copied it around; the property check
# still decides, among the first ones.
MAX_CANDIDATES = 10


def marker_label(digest: str) -> str:
    return MARKER_PREFIX + digest.removeprefix("raw-")[:MARKER_DIGITS]


def find_marked_issue(
    client: JiraClient, digest: str, *, property_key: str, digest_field: str
) -> str | None:
    """The issue carrying the message's label and, in its property, the message's digest."""
    jql = f'labels = "{marker_label(digest)}" ORDER BY created ASC'
    for issue in client.search_issues(jql, fields="summary", max_results=MAX_CANDIDATES):
        key = str(issue["key"])
        value = client.get_issue_property(key, property_key)
        if isinstance(value, dict) and value.get(digest_field) == digest:
            return key
    return None
