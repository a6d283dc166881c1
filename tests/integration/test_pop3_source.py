"""The POP3 adapter against a real Dovecot: UIDL cursors, DELE at QUIT, limits, TLS, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.sources.base import Pop3Cursor
from connector.sources.diagnose import diagnose
from connector.sources.errors import (
    MessageTooLarge,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceTlsError,
)
from connector.sources.pop3 import Pop3Source
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message
from tests.servers.sources import dovecot_config, message_id, process_all


def test_pop3_baseline_earlier_mail_not_listed(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.deliver(mail_user, build_message("before"))
    with Pop3Source(dovecot_config(dovecot, mail_user, "pop3")) as source:
        cursor = source.baseline()
    dovecot.deliver(mail_user, build_message("after", message_id="<after@test>"))
    with Pop3Source(dovecot_config(dovecot, mail_user, "pop3")) as source:
        fetched, _ = process_all(source, cursor)
    assert [message_id(raw) for raw in fetched] == ["<after@test>"]


def test_pop3_cursor_not_advanced_without_mark_done_lists_message_again(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    config = dovecot_config(dovecot, mail_user, "pop3")
    dovecot.deliver(mail_user, build_message("one"))
    empty = Pop3Cursor(frozenset())
    with Pop3Source(config) as source:
        first = source.list_new(empty)
        source.fetch(first.refs[0])  # fetched, never recorded, never marked done
    with Pop3Source(config) as source:
        again = source.list_new(first.cursor)
    assert first.cursor == empty
    assert [ref.uid for ref in again.refs] == [ref.uid for ref in first.refs]


def test_pop3_processed_message_deleted_at_quit_and_failed_one_kept_but_not_relisted(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    config = dovecot_config(dovecot, mail_user, "pop3")
    with dovecot.admin(mail_user) as admin:
        admin.deliver(build_message("processed"))
        admin.deliver(build_message("failed"))
    cursor: Pop3Cursor = Pop3Cursor(frozenset())
    with Pop3Source(config) as source:
        listing = source.list_new(cursor)
        for ref, success in zip(listing.refs, (True, False), strict=True):
            source.mark_done(ref, success=success)
            cursor = cursor.advanced(ref)
    remaining = [message.subject for message in dovecot.messages(mail_user)]
    with Pop3Source(config) as source:
        after = source.list_new(cursor)
    assert remaining == ["failed"]
    assert after.refs == ()
    # The deleted message's UIDL is forgotten; the one kept on the server is remembered.
    assert after.cursor == Pop3Cursor(frozenset({listing.refs[1].uid}))


def test_pop3_fetch_returns_the_exact_bytes_delivered(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    raw = build_message("exact", body="line one\n.leading dot\n..two dots\n.\n")
    dovecot.deliver(mail_user, raw)
    with Pop3Source(dovecot_config(dovecot, mail_user, "pop3")) as source:
        fetched, _ = process_all(source, Pop3Cursor(frozenset()), success=False)
    assert fetched == [raw]


def test_pop3_oversize_message_not_retrieved(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.deliver(mail_user, build_message("huge", padding_bytes=40_000))
    config = dovecot_config(dovecot, mail_user, "pop3", max_message_bytes=10_000)
    with Pop3Source(config) as source:
        ref = source.list_new(Pop3Cursor(frozenset())).refs[0]
        with pytest.raises(MessageTooLarge):
            source.fetch(ref)
    sessions = dovecot.logouts(mail_user, "pop3")
    assert ref.size > 40_000
    assert len(sessions) == 1 and "retr=0/0" in sessions[0]


def test_pop3_backlog_since_date_counts_by_date_header(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    now = datetime.now(UTC)
    with dovecot.admin(mail_user) as admin:
        for days in (30, 1, 0):
            admin.deliver(build_message(f"{days} days", date=now - timedelta(days=days)))
    with Pop3Source(dovecot_config(dovecot, mail_user, "pop3")) as source:
        estimate = source.estimate_backlog(now - timedelta(days=7))
        cursor = source.baseline(since=now - timedelta(days=7))
        listing = source.list_new(cursor)
        ids = source.fetch_message_ids(listing.refs)
    assert estimate == 2
    assert len(listing.refs) == 2 and all(ids.values())


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_pop3_each_security_mode_reads_the_inbox(
    dovecot: Dovecot, mail_user: MailUser, security: str
) -> None:
    dovecot.deliver(mail_user, build_message("hello", message_id="<hello@test>"))
    with Pop3Source(dovecot_config(dovecot, mail_user, "pop3", security=security)) as source:
        fetched, _ = process_all(source, Pop3Cursor(frozenset()), success=False)
        warnings = source.warnings
    assert [message_id(raw) for raw in fetched] == ["<hello@test>"]
    assert len(warnings) == 1  # unverified certificate, or no encryption at all


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_pop3_self_signed_certificate_refused_when_verifying(
    dovecot: Dovecot, mail_user: MailUser, security: str
) -> None:
    config = dovecot_config(dovecot, mail_user, "pop3", security=security, verify_tls=True)
    with pytest.raises(SourceTlsError, match="self-signed"):
        Pop3Source(config).connect()


def test_pop3_wrong_password_raises_auth_error_with_server_words(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with pytest.raises(SourceAuthError) as raised:
        Pop3Source(dovecot_config(dovecot, mail_user, "pop3", password="wrong")).connect()
    assert raised.value.server_message == "[AUTH] Authentication failed."


def test_pop3_folder_refused_with_clear_message(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(SourceConfigError) as raised:
        dovecot_config(dovecot, mail_user, "pop3", folder="Archive")
    assert raised.value.field == "folder"
    assert "POP3 has no folders" in str(raised.value)


def test_pop3_server_restart_mid_fetch_reconnects_without_loss_or_duplicates(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    delivered = [f"<pop-restart-{n}@test>" for n in range(3)]
    with dovecot.admin(mail_user) as admin:
        for mid in delivered:
            admin.deliver(build_message(mid, message_id=mid))
    source = Pop3Source(dovecot_config(dovecot, mail_user, "pop3"))
    source.connect()
    listing = source.list_new(Pop3Cursor(frozenset()))
    cursor = listing.cursor
    processed = [message_id(source.fetch(listing.refs[0]))]
    source.mark_done(listing.refs[0], success=True)
    cursor = cursor.advanced(listing.refs[0])
    dovecot.restart()
    with pytest.raises(SourceConnectionError):
        source.fetch(listing.refs[1])
    source.connect()
    fetched, cursor = process_all(source, cursor)
    source.close()
    processed += [message_id(raw) for raw in fetched]
    left = [message.message_id for message in dovecot.messages(mail_user)]
    assert processed == delivered
    # The DELE of the first session died with it (RFC 1939 §6): kept on the server, not reread.
    assert left == delivered[:1]


def test_pop3_diagnosis_good_config_counts_messages(dovecot: Dovecot, mail_user: MailUser) -> None:
    with dovecot.admin(mail_user) as admin:
        admin.deliver(build_message("one"))
        admin.deliver(build_message("two"))
    result = diagnose(dovecot_config(dovecot, mail_user, "pop3", security="starttls"))
    assert [step.name for step in result.steps] == [
        "resolve",
        "connect",
        "tls",
        "authenticate",
        "folder",
        "messages",
    ]
    assert result.ok
    assert result.steps[-1].data == {"total": 2}


def test_pop3_xoauth2_token_logs_in(dovecot: Dovecot, mail_user: MailUser) -> None:
    token = dovecot.issue_token(mail_user)
    dovecot.deliver(mail_user, build_message("via oauth", message_id="<oauth@test>"))
    config = dovecot_config(dovecot, mail_user, "pop3", password=None, access_token=lambda: token)
    with Pop3Source(config) as source:
        fetched, _ = process_all(source, Pop3Cursor(frozenset()), success=False)
    assert [message_id(raw) for raw in fetched] == ["<oauth@test>"]
