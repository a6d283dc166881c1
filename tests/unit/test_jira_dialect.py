"""What differs between Jira Cloud and Jira Data Center (connector/jira/dialect.py)."""

from __future__ import annotations

from connector.jira.adf import text_to_adf
from connector.jira.auth import api_token_site
from connector.jira.datacenter import datacenter_site
from connector.jira.dialect import CLOUD, DATA_CENTER


def test_cloud_sends_adf_and_account_ids_as_before() -> None:
    document = text_to_adf("a *b*")
    assert CLOUD.document(document) == document
    assert CLOUD.rich_text("a *b*") == document
    assert CLOUD.user_field("557058:abc") == {"id": "557058:abc"}
    assert CLOUD.user_search("a@example.com", 10) == {"query": "a@example.com", "maxResults": 10}
    raw = {"accountId": "557058:abc", "accountType": "customer", "name": "ignored"}
    assert CLOUD.user_identity(raw) == ("557058:abc", "customer")
    assert CLOUD.participants(["x"]) == {"accountIds": ["x"]}
    assert CLOUD.new_customer("a@example.com", "A") == {
        "email": "a@example.com",
        "displayName": "A",
    }
    assert CLOUD.page_items("issueTypes") == "issueTypes"
    assert api_token_site("https://x.atlassian.net", email="e", api_token="t").dialect is CLOUD


def test_data_center_sends_wiki_markup_and_user_names() -> None:
    assert DATA_CENTER.api_path == "rest/api/2"
    assert DATA_CENTER.document(text_to_adf("a *b*")) == "a \\*b\\*"
    assert DATA_CENTER.rich_text("h1. x") == "&#104;1. x"
    assert DATA_CENTER.user_field("jsmith") == {"name": "jsmith"}
    assert DATA_CENTER.user_search("a@example.com", 5) == {
        "username": "a@example.com",
        "maxResults": 5,
    }
    raw = {"name": "jsmith", "key": "JIRAUSER10100", "displayName": "John"}
    assert DATA_CENTER.user_identity(raw) == ("jsmith", "atlassian")
    assert DATA_CENTER.participants(["jsmith"]) == {"usernames": ["jsmith"]}
    assert DATA_CENTER.new_customer("a@example.com", "A") == {
        "email": "a@example.com",
        "fullName": "A",
    }
    assert DATA_CENTER.page_items("fields") == "values"


def test_a_data_center_site_uses_the_pat_as_bearer_and_the_v2_dialect() -> None:
    site = datacenter_site("https://jira.example.com/", token="secret-pat")
    assert site.base_url == "https://jira.example.com"
    assert site.dialect is DATA_CENTER
    assert "secret-pat" not in repr(site)
