"""The IMAP adapter against a real Dovecot: cursors, folders, post-actions, TLS, diagnosis."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from connector.sources.base import ImapCursor, MessageRef
from connector.sources.diagnose import diagnose
from connector.sources.errors import (
    FolderNotFound,
    MessageTooLarge,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceTlsError,
)
from connector.sources.imap import ImapSource
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message
from tests.servers.sources import broken_config, dovecot_config, message_id, process_all


def test_imap_baseline_earlier_mail_not_listed(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.deliver(mail_user, build_message("before the source existed"))
    with ImapSource(dovecot_config(dovecot, mail_user)) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, build_message("after", message_id="<after@test>"))
        fetched, _ = process_all(source, cursor)
    assert [message_id(raw) for raw in fetched] == ["<after@test>"]


def test_imap_cursor_not_advanced_without_mark_done_lists_message_again(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with ImapSource(dovecot_config(dovecot, mail_user)) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, build_message("one"))
        first = source.list_new(cursor)
        source.fetch(first.refs[0])  # fetched, but the caller never recorded it
        again = source.list_new(first.cursor)
        source.mark_done(again.refs[0], success=True)
        after = source.list_new(again.cursor.advanced(again.refs[0]))
    assert first.cursor == cursor
    assert again.refs == first.refs
    assert after.refs == ()


def test_imap_message_read_by_someone_else_still_listed_and_fetch_keeps_it_unread(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with ImapSource(dovecot_config(dovecot, mail_user)) as source:
        cursor = source.baseline()
        with dovecot.admin(mail_user) as admin:
            read_uid = admin.deliver(build_message("read by a person"), flags=("\\Seen",))
            unread_uid = admin.deliver(build_message("not read yet"))
        listing = source.list_new(cursor)
        for ref in listing.refs:
            source.fetch(ref)
    flags = {message.uid: message.flags for message in dovecot.messages(mail_user)}
    assert [ref.uid for ref in listing.refs] == [str(read_uid), str(unread_uid)]
    assert "\\Seen" not in flags[unread_uid]


def test_imap_fetch_returns_the_exact_bytes_delivered(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    raw = build_message("exact", body="line one\n.leading dot\n..two dots\n")
    with ImapSource(dovecot_config(dovecot, mail_user)) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, raw)
        fetched, _ = process_all(source, cursor)
    assert fetched == [raw]


@pytest.mark.parametrize("host_attr", ["host", "legacy_host"], ids=["modern", "no-move-uidplus"])
def test_imap_move_after_success_message_in_created_success_subfolder(
    dovecot: Dovecot, mail_user: MailUser, host_attr: str
) -> None:
    config = dovecot_config(
        dovecot,
        mail_user,
        security="none",
        port=dovecot.ports.imap,
        host=getattr(dovecot, host_attr),
        after_processing="move",
        success_folder="Processed/Jira",
    )
    with ImapSource(config) as source:
        cursor = source.baseline()
        with dovecot.admin(mail_user) as admin:
            admin.deliver(build_message("move me", message_id="<move@test>"))
            admin.deliver(build_message("stays"), flags=("\\Deleted",))  # someone else's
        listing = source.list_new(cursor)
        source.fetch(listing.refs[0])
        source.mark_done(listing.refs[0], success=True)
        has_move = "MOVE" in source.capabilities
    moved = [message.message_id for message in dovecot.messages(mail_user, "Processed.Jira")]
    inbox = [message.subject for message in dovecot.messages(mail_user)]
    assert has_move is (host_attr == "host")
    assert moved == ["<move@test>"]
    # COPY + delete needs an EXPUNGE; only UID EXPUNGE (UIDPLUS, RFC 4315) spares a message
    # another client flagged \Deleted, a plain EXPUNGE removes it as RFC 3501 intends.
    assert inbox == (["stays"] if host_attr == "host" else [])


def test_imap_delete_after_success_removes_only_that_message(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    config = dovecot_config(dovecot, mail_user, after_processing="delete")
    with ImapSource(config) as source:
        cursor = source.baseline()
        with dovecot.admin(mail_user) as admin:
            admin.deliver(build_message("delete me"))
            admin.deliver(build_message("flagged by a person"), flags=("\\Deleted",))
        listing = source.list_new(cursor)
        source.mark_done(listing.refs[0], success=True)
    remaining = [message.subject for message in dovecot.messages(mail_user)]
    assert remaining == ["flagged by a person"]


def test_imap_mark_read_after_success_sets_seen_on_server(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with ImapSource(dovecot_config(dovecot, mail_user, after_processing="mark_read")) as source:
        cursor = source.baseline()
        uid = dovecot.deliver(mail_user, build_message("read me"))
        process_all(source, cursor)
    stored = dovecot.messages(mail_user)
    assert [(message.uid, "\\Seen" in message.flags) for message in stored] == [(uid, True)]


def test_imap_oversize_message_not_downloaded_and_moved_to_failure_folder(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    config = dovecot_config(dovecot, mail_user, max_message_bytes=10_000, failure_folder="Failed")
    with dovecot.admin(mail_user) as admin:
        admin.create_folder("Failed")
    with ImapSource(config) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, build_message("huge", message_id="<h@t>", padding_bytes=50_000))
        ref = source.list_new(cursor).refs[0]
        with pytest.raises(MessageTooLarge) as raised:
            source.fetch(ref)
        source.mark_done(ref, success=False)
    failed = [message.message_id for message in dovecot.messages(mail_user, "Failed")]
    inbox = dovecot.messages(mail_user)
    sessions = dovecot.logouts(mail_user, "imap", at_least=5)
    assert raised.value.ref.size > 50_000
    assert failed == ["<h@t>"]
    assert inbox == []
    assert sessions and all("body_count=0" in line for line in sessions)


@pytest.mark.parametrize("folder", ["Projects/Support", "Posteingang", "Données", "受信トレイ"])
def test_imap_folder_slash_and_non_english_names_read(
    dovecot: Dovecot, mail_user: MailUser, folder: str
) -> None:
    server_name = folder.replace("/", dovecot.delimiter)
    with dovecot.admin(mail_user) as admin:
        admin.create_folder(server_name)
    with ImapSource(dovecot_config(dovecot, mail_user, folder=folder)) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, build_message("in a folder", message_id="<f@test>"), server_name)
        fetched, _ = process_all(source, cursor)
        listed = source.list_folders()
    assert [message_id(raw) for raw in fetched] == ["<f@test>"]
    assert folder in listed


def test_imap_missing_folder_raises_folder_not_found(dovecot: Dovecot, mail_user: MailUser) -> None:
    source = ImapSource(dovecot_config(dovecot, mail_user, folder="Nowhere"))
    with source, pytest.raises(FolderNotFound) as raised:
        source.baseline()
    assert raised.value.folder == "Nowhere"
    assert "exist" in raised.value.server_message


def test_imap_uidvalidity_change_rescans_from_baseline_day(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    config = dovecot_config(dovecot, mail_user, folder="Support")
    with dovecot.admin(mail_user) as admin:
        admin.create_folder("Support")
    with ImapSource(config) as source:
        with dovecot.admin(mail_user) as admin:
            baseline = source.baseline()
            admin.deliver(build_message("first", message_id="<first@test>"), "Support")
        _, cursor = process_all(source, baseline)
        with dovecot.admin(mail_user) as admin:  # the folder is rebuilt: new UIDVALIDITY
            admin.delete_folder("Support")
            admin.create_folder("Support")
            old = datetime.now(UTC) - timedelta(days=30)
            admin.deliver(build_message("ancient"), "Support", internal_date=old)
            admin.deliver(build_message("first again", message_id="<first@test>"), "Support")
            admin.deliver(build_message("second", message_id="<second@test>"), "Support")
        listing = source.list_new(cursor)
        ids = source.fetch_message_ids(listing.refs)
        _, rescanned = process_all(source, cursor)
        after = source.list_new(rescanned)
    newest = listing.refs[-1]
    assert listing.rescan is True and newest.uidvalidity != baseline.uidvalidity
    assert [ids[ref.uid] for ref in listing.refs] == ["<first@test>", "<second@test>"]
    assert rescanned == ImapCursor(newest.uidvalidity or 0, int(newest.uid), baseline.since)
    assert (after.rescan, after.refs) == (False, ())


def test_imap_backlog_since_date_estimated_and_listed(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    now = datetime.now(UTC)
    for days in (40, 20, 2, 1):
        dovecot.deliver(mail_user, build_message("old"), internal_date=now - timedelta(days))
    with ImapSource(dovecot_config(dovecot, mail_user)) as source:
        estimate = source.estimate_backlog(now - timedelta(days=10))
        cursor = source.baseline(since=now - timedelta(days=10))
        listing = source.list_new(cursor, limit=1)
    assert estimate == 2
    assert len(listing.refs) == 1 and listing.has_more is True


def test_imap_exclusion_folder_never_read(dovecot: Dovecot, mail_user: MailUser) -> None:
    config = dovecot_config(dovecot, mail_user, exclusion_folders=("Private",))
    with dovecot.admin(mail_user) as admin:
        admin.create_folder("Private.Sub")
        private_uid = admin.deliver(build_message("private"), "Private.Sub")
        private_uidvalidity = admin.status("Private.Sub")["UIDVALIDITY"]
    with ImapSource(config) as source:
        cursor = source.baseline()
        dovecot.deliver(mail_user, build_message("public", message_id="<public@test>"))
        fetched, _ = process_all(source, cursor)
        forged = MessageRef(str(private_uid), 100, "Private/Sub", private_uidvalidity)
        with pytest.raises(SourceConfigError):
            source.fetch(forged)
    private = dovecot.messages(mail_user, "Private.Sub")
    assert [message_id(raw) for raw in fetched] == ["<public@test>"]
    assert [("\\Seen" in message.flags) for message in private] == [False]


def test_imap_password_changed_on_server_raises_auth_error_with_server_words(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    source = ImapSource(dovecot_config(dovecot, mail_user))
    source.connect()
    source.close()
    dovecot.change_password(mail_user, "changed-by-the-mail-admin")
    with pytest.raises(SourceAuthError) as raised:
        source.connect()
    assert raised.value.server_message == "[AUTHENTICATIONFAILED] Authentication failed."


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_self_signed_certificate_refused_when_verifying(
    dovecot: Dovecot, mail_user: MailUser, security: str
) -> None:
    config = dovecot_config(dovecot, mail_user, security=security, verify_tls=True)
    with pytest.raises(SourceTlsError, match="not trusted: self-signed certificate"):
        ImapSource(config).connect()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_self_signed_certificate_accepted_unverified_with_warning(
    dovecot: Dovecot, mail_user: MailUser, security: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connector.sources")
    with ImapSource(dovecot_config(dovecot, mail_user, security=security)) as source:
        listing = source.list_new(source.baseline())
    assert "not verified" in " ".join(listing.warnings)
    assert "source.insecure" in caplog.text


def test_imap_server_restart_mid_fetch_reconnects_without_loss_or_duplicates(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    delivered = [f"<restart-{n}@test>" for n in range(4)]
    processed: list[str] = []
    source = ImapSource(dovecot_config(dovecot, mail_user))
    source.connect()
    cursor = source.baseline()
    for mid in delivered:
        dovecot.deliver(mail_user, build_message(mid, message_id=mid))
    refs = source.list_new(cursor).refs
    for ref in refs[:2]:
        processed.append(message_id(source.fetch(ref)))
        source.mark_done(ref, success=True)
        cursor = cursor.advanced(ref)
    dovecot.restart()
    with pytest.raises(SourceConnectionError):
        source.fetch(refs[2])
    source.connect()
    fetched, _ = process_all(source, cursor)
    source.close()
    processed += [message_id(raw) for raw in fetched]
    assert processed == delivered


def test_imap_diagnosis_good_config_passes_every_step(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    dovecot.deliver(mail_user, build_message("seen"), flags=("\\Seen",))
    dovecot.deliver(mail_user, build_message("unseen"))
    result = diagnose(dovecot_config(dovecot, mail_user), since=datetime.now(UTC) - timedelta(1))
    tls = result.step("tls")
    assert [(step.name, step.ok) for step in result.steps] == [
        ("resolve", True),
        ("connect", True),
        ("tls", True),
        ("authenticate", True),
        ("folder", True),
        ("messages", True),
    ]
    assert tls is not None and tls.data["subject"] == "CN=localhost"
    assert tls.data["self_signed"] is True and tls.data["problem"] == "self-signed certificate"
    assert result.steps[-1].data == {"total": 2, "unseen": 1, "since": 2}
    assert result.warnings


@pytest.mark.parametrize(
    ("case", "failed_step", "words"),
    [
        ("unknown host", "resolve", "cannot resolve mail.connector-test.invalid"),
        ("closed port", "connect", "refused"),
        ("bad certificate", "tls", "self-signed certificate"),
        ("bad password", "authenticate", "[AUTHENTICATIONFAILED] Authentication failed."),
        ("missing folder", "folder", "INBOX"),
    ],
)
def test_imap_diagnosis_broken_config_stops_at_failing_step_with_reason(
    dovecot: Dovecot, mail_user: MailUser, case: str, failed_step: str, words: str
) -> None:
    result = diagnose(broken_config(dovecot, mail_user, case))
    last = result.steps[-1]
    assert (result.ok, last.name, last.ok) == (False, failed_step, False)
    assert all(step.ok for step in result.steps[:-1])
    assert last.error is not None and words in last.error


def test_imap_xoauth2_token_from_callable_logs_in_and_revoked_token_refused(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    tokens = [dovecot.issue_token(mail_user)]
    config = dovecot_config(dovecot, mail_user, password=None, access_token=lambda: tokens[-1])
    with ImapSource(config) as source:
        folders = source.list_folders()
    dovecot.tokens.revoke(tokens[-1])
    with pytest.raises(SourceAuthError) as raised:
        ImapSource(config).connect()
    assert folders == ["INBOX"]
    assert '"status":"401"' in raised.value.server_message  # XOAUTH2's JSON error challenge


def test_imap_xoauth2_token_provider_failure_is_an_auth_error(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    def refresh() -> str:
        raise RuntimeError("invalid_grant: refresh token expired")

    config = dovecot_config(dovecot, mail_user, password=None, access_token=refresh)
    with pytest.raises(SourceAuthError) as raised:
        ImapSource(config).connect()
    assert raised.value.server_message == "invalid_grant: refresh token expired"


def test_imap_idle_poll_traffic_same_for_large_and_small_mailbox(dovecot: Dovecot) -> None:
    traffic = []
    template = build_message("old")
    for count in (10, 1000):
        user = dovecot.new_user("idle")
        dovecot.deliver_files(user, [template] * count)
        with ImapSource(dovecot_config(dovecot, user)) as source:
            cursor = source.baseline()  # also lets Dovecot index the new Maildir files
        with ImapSource(dovecot_config(dovecot, user)) as source:
            assert source.list_new(cursor).refs == ()
        last_session = dovecot.logouts(user, "imap", at_least=3)[-1]
        traffic.append(int(last_session.split(" out=")[1].split()[0]))
    # A scan of the folder would send back thousands of UIDs or sizes; SELECT differs only
    # in the digits of its counts.
    assert abs(traffic[1] - traffic[0]) < 20


def test_deliver_files_twice_in_one_second_keeps_both(dovecot: Dovecot) -> None:
    user = dovecot.new_user("twice")
    dovecot.deliver_files(user, [build_message("first", message_id="<first@test>")])
    dovecot.deliver_files(user, [build_message("second", message_id="<second@test>")])
    with ImapSource(dovecot_config(dovecot, user)) as source:
        listing = source.list_new(source.baseline(datetime(2000, 1, 1, tzinfo=UTC)))
        fetched = sorted(message_id(source.fetch(ref)) for ref in listing.refs)
    assert fetched == ["<first@test>", "<second@test>"]
