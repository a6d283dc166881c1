"""Jira sites connected without an app install: a Cloud site with an account's API token, a
Data Center server with a personal access token (issue 20)."""
