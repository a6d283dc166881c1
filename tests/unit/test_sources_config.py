"""Mail-source settings: validation that names the field, provider presets, cursors as JSON."""

from __future__ import annotations

import ssl
from datetime import date
from typing import Any

import pytest

from connector.sources import open_source
from connector.sources.base import (
    ImapCursor,
    MessageRef,
    Pop3Cursor,
    cursor_from_json,
)
from connector.sources.config import SourceConfig, is_excluded, same_folder
from connector.sources.errors import SourceConfigError
from connector.sources.imap import ImapSource
from connector.sources.pop3 import Pop3Source
from connector.sources.presets import PRESETS, config_from_preset, default_port
from connector.sources.tls import client_context, connection_warnings


def imap(**overrides: Any) -> SourceConfig:
    settings: dict[str, Any] = {
        "protocol": "imap",
        "host": "mail.example.com",
        "port": 993,
        "username": "support@example.com",
        "password": "secret",
    }
    return SourceConfig(**(settings | overrides))


def test_source_config_defaults_are_safe() -> None:
    config = imap()
    assert (config.security, config.verify_tls, config.folder) == ("ssl", True, "INBOX")
    assert config.max_message_bytes == 25 * 1024 * 1024
    assert "secret" not in repr(config)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"protocol": "smtp"}, "protocol"),
        ({"host": "https://mail.example.com/"}, "host"),
        ({"host": ""}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"security": "tls"}, "security"),
        ({"verify_tls": "yes"}, "verify_tls"),
        ({"username": " "}, "username"),
        ({"password": None}, "password"),
        ({"access_token": lambda: "token"}, "password"),
        ({"folder": ""}, "folder"),
        ({"folder": "Parent//Child"}, "folder"),
        ({"folder": "Bad\nName"}, "folder"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 61}, "timeout_seconds"),
        ({"after_processing": "archive"}, "after_processing"),
        ({"after_processing": "move"}, "success_folder"),
        ({"failure_folder": "inbox"}, "failure_folder"),
        ({"exclusion_folders": ["Spam"]}, "exclusion_folders"),
        ({"folder": "Archive/2024", "exclusion_folders": ("Archive",)}, "folder"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
    ],
)
def test_source_config_invalid_value_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceConfigError) as raised:
        imap(**overrides)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"folder": "Archive"}, "folder", "POP3 has no folders"),
        ({"after_processing": "mark_read"}, "after_processing", "POP3 cannot mark read"),
        ({"after_processing": "move", "success_folder": "Done"}, "after_processing", "move"),
        ({"failure_folder": "Failed"}, "failure_folder", "no folders"),
        ({"exclusion_folders": ("Spam",)}, "exclusion_folders", "no folders"),
    ],
)
def test_source_config_pop3_folder_actions_refused_with_reason(
    overrides: dict[str, Any], field: str, words: str
) -> None:
    settings = {"protocol": "pop3", "port": 995, "after_processing": "delete"} | overrides
    with pytest.raises(SourceConfigError) as raised:
        imap(**settings)
    assert raised.value.field == field
    assert words in raised.value.problem


def test_source_config_oauth_token_instead_of_password_accepted() -> None:
    config = imap(password=None, access_token=lambda: "token")
    assert config.access_token is not None and config.access_token() == "token"


def test_source_config_graph_without_token_refused() -> None:
    with pytest.raises(SourceConfigError) as raised:
        imap(protocol="graph", host="graph.microsoft.com", port=443)
    assert raised.value.field == "access_token"


def test_folder_names_compare_inbox_case_insensitively_and_exclude_subfolders() -> None:
    assert same_folder("inbox", "INBOX") and not same_folder("Sent", "sent")
    assert is_excluded("Archive/2024", ("Archive",))
    assert not is_excluded("Archived", ("Archive",))


@pytest.mark.parametrize("provider", ["gmail", "microsoft365", "yahoo", "zoho", "icloud"])
def test_presets_fill_imap_endpoint_with_implicit_tls(provider: str) -> None:
    config = config_from_preset(provider, "imap", username="a@example.com", password="pw")
    assert (config.port, config.security) == (993, "ssl")
    assert config.host == PRESETS[provider].imap.host  # type: ignore[union-attr]


def test_presets_cover_the_providers_admins_ask_for() -> None:
    assert set(PRESETS) == {"gmail", "microsoft365", "yahoo", "zoho", "icloud", "custom"}
    assert PRESETS["gmail"].oauth == "google" and PRESETS["microsoft365"].oauth == "microsoft"


def test_presets_pop3_defaults_to_delete_and_icloud_pop3_refused() -> None:
    gmail = config_from_preset("gmail", "pop3", username="a@gmail.com", password="pw")
    with pytest.raises(SourceConfigError) as raised:
        config_from_preset("icloud", "pop3", username="a@icloud.com", password="pw")
    assert (gmail.host, gmail.port, gmail.after_processing) == ("pop.gmail.com", 995, "delete")
    assert raised.value.field == "protocol"


def test_presets_custom_needs_host_and_picks_port_from_security() -> None:
    with pytest.raises(SourceConfigError) as raised:
        config_from_preset("custom", "imap", username="u", password="pw")
    custom = config_from_preset(
        "custom", "imap", username="u", password="pw", host="mail.example.org", security="starttls"
    )
    assert raised.value.field == "host"
    assert custom.port == 143 == default_port("imap", "starttls")


def test_presets_unknown_provider_refused() -> None:
    with pytest.raises(SourceConfigError) as raised:
        config_from_preset("aol", "imap", username="u", password="pw")
    assert raised.value.field == "provider"


@pytest.mark.parametrize(
    "cursor",
    [
        ImapCursor(1795239112, 42, date(2025, 11, 21)),
        ImapCursor(7, 0),
        Pop3Cursor(frozenset({"00000001abc", "00000002abc"})),
        Pop3Cursor(frozenset()),
    ],
)
def test_cursor_json_round_trip_is_equal(cursor: ImapCursor | Pop3Cursor) -> None:
    assert cursor_from_json(cursor.to_json()) == cursor
    assert type(cursor).from_json(cursor.to_json()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"kind": "graph"}',
        '{"kind": "imap", "uidvalidity": -1, "last_uid": 0}',
        '{"kind": "pop3", "seen_uidls": "abc"}',
        '{"kind": "imap", "last_uid": 3}',
    ],
)
def test_cursor_from_bad_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        cursor_from_json(text)


def test_imap_cursor_advances_by_uid_and_resets_on_new_uidvalidity() -> None:
    cursor = ImapCursor(10, 5, date(2025, 1, 1))
    same = cursor.advanced(MessageRef("9", 100, "INBOX", 10))
    older = same.advanced(MessageRef("7", 100, "INBOX", 10))
    rebuilt = same.advanced(MessageRef("2", 100, "INBOX", 11))
    assert (same.last_uid, older.last_uid) == (9, 9)
    assert (rebuilt.uidvalidity, rebuilt.last_uid, rebuilt.since) == (11, 2, date(2025, 1, 1))
    with pytest.raises(ValueError):
        cursor.advanced(MessageRef("abc", 1, "INBOX"))


def test_pop3_cursor_advances_by_adding_the_uidl() -> None:
    cursor = Pop3Cursor(frozenset({"a"})).advanced(MessageRef("b", 1, "INBOX"))
    assert cursor.seen_uidls == {"a", "b"}


def test_open_source_picks_adapter_by_protocol() -> None:
    pop3 = imap(protocol="pop3", port=995, after_processing="delete")
    assert isinstance(open_source(imap()), ImapSource)
    assert isinstance(open_source(pop3), Pop3Source)
    with pytest.raises(SourceConfigError):
        open_source(imap(protocol="graph", password=None, access_token=lambda: "t"))


def test_tls_context_verifies_certificate_and_host_name_by_default() -> None:
    checked, unchecked = client_context(imap()), client_context(imap(verify_tls=False))
    assert (checked.verify_mode, checked.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert (unchecked.verify_mode, unchecked.check_hostname) == (ssl.CERT_NONE, False)


def test_tls_warnings_name_what_is_weakened() -> None:
    assert connection_warnings(imap()) == ()
    assert "not verified" in connection_warnings(imap(verify_tls=False))[0]
    assert "clear text" in connection_warnings(imap(security="none", port=143))[0]
