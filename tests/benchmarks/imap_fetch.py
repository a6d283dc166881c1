"""Benchmark: reading a mailbox through `ImapSource` against bare imaplib, and idle polls.

Run on demand: `uv run python -m tests.benchmarks.imap_fetch [--messages N] [--old-messages N]`.
Needs Dovecot (as the integration tests do); starts its own on loopback. Prints figures and
ratios measured in the same run; it asserts nothing (speed is measured here, never by timed
unit tests). Goals (issue 4):

- Backlog: fetching a 2,000-message backlog as the poller does (`list_new` in pages of 500,
  then `fetch` and `mark_done` (mark read) per message) within 1.5x of a bare imaplib loop of
  `UID FETCH n (BODY.PEEK[])`, one message per command, over the same mailbox and the same
  kind of connection (implicit TLS on loopback). Best of `--rounds`; each round runs every
  pass once, on unread mail. Also shown, to tell our overhead from the commands' cost:
  `ImapSource` fetching without marking, and bare imaplib marking read with one `UID STORE`
  per message and with one per batch of `BATCH_SIZE`.
- Idle poll: `list_new` from a cursor at the end costs the same in a folder of 50,000 old
  messages as in one of 10 (no scan of the whole folder). Also shown: a whole idle poll
  (connect, log in, list, log out), bare `SELECT` as the server's own share, and `list_new`
  when one new message has arrived on top (the `UID SEARCH` above the cursor and the
  `RFC822.SIZE` of what it found), with the same three commands in bare imaplib beside it.

Dovecot re-reads a Maildir folder (its directory and `dovecot-uidlist`) on every SELECT for
a few seconds after the folder last changed, because a change within the same second could
otherwise be missed: ~60 ms on 50,000 messages, against ~0.4 ms once settled; and the first
session to open the folder after that keeps paying ~15 ms per SELECT until it logs out
(measured with bare imaplib as well). A mailbox of old mail has not changed for a while, so
the timings start once the folder has settled (`_settle`); the first SELECT, which indexes the
new files, is shown apart.
"""

from __future__ import annotations

import argparse
import imaplib
import logging
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.polling import BATCH_SIZE
from connector.sources.base import ImapCursor
from connector.sources.config import SourceConfig
from connector.sources.imap import ImapSource
from tests.benchmarks.mailboxes import (
    MailWriter,
    deliver_in_chunks,
    describe_sizes,
    old_message,
    running_dovecot,
)
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_config

PAGE = 500  # list_new's limit, as the poller uses it
_BACKLOG_PASSES = {
    "bare": "bare imaplib: UID FETCH BODY.PEEK[] per message",
    "fetch": "ImapSource: list_new + fetch",
    "poller": "ImapSource: list_new + fetch + mark_done (the poller)",
    "bare+store": "bare imaplib: UID FETCH + UID STORE \\Seen per message",
    "bare+store batch": f"bare imaplib: UID FETCH per message, STORE per {BATCH_SIZE}",
}
SETTLE_SECONDS = 4.0  # Dovecot's dirty-Maildir window, measured: ~3 s after the last change


@dataclass(frozen=True)
class Pass:
    messages: int
    octets: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


# -- backlog ----------------------------------------------------------------------------------


def _bare_client(config: SourceConfig) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = imaplib.IMAP4_SSL(
        config.host, config.port, ssl_context=context, timeout=config.timeout_seconds
    )
    client.login(config.username, config.password or "")
    return client


def _bare_fetch(config: SourceConfig, *, store_every: int = 0) -> Pass:
    """Log in, SELECT, `UID SEARCH ALL`, then one `UID FETCH uid (BODY.PEEK[])` per message;
    with `store_every`, also `UID STORE ... +FLAGS.SILENT (\\Seen)` for each that many."""
    started = time.perf_counter()
    client = _bare_client(config)
    client.select("INBOX")
    _, data = client.uid("SEARCH", "ALL")
    uids = [uid.decode("ascii") for uid in data[0].split()]
    octets = 0
    unmarked: list[str] = []
    for uid in uids:
        _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
        part = fetched[0]
        assert isinstance(part, tuple)
        octets += len(part[1])
        unmarked.append(uid)
        if store_every and len(unmarked) == store_every:
            client.uid("STORE", ",".join(unmarked), "+FLAGS.SILENT", "(\\Seen)")
            unmarked = []
    if store_every and unmarked:
        client.uid("STORE", ",".join(unmarked), "+FLAGS.SILENT", "(\\Seen)")
    client.logout()
    return Pass(len(uids), octets, time.perf_counter() - started)


def _mark_unread(config: SourceConfig) -> None:
    client = _bare_client(config)
    client.select("INBOX")
    client.uid("STORE", "1:*", "-FLAGS.SILENT", "(\\Seen)")
    client.logout()


def _settle(config: SourceConfig) -> None:
    """Wait out Dovecot's window after a change, then let one session open the folder and
    log out (see the module's docstring); twice, because the first SELECT after a delivery
    moves the new files from new/ to cur/, which is a change again."""
    for _ in range(2):
        time.sleep(SETTLE_SECONDS)
        client = _bare_client(config)
        client.select("INBOX")
        client.logout()


def _source_fetch(config: SourceConfig, start: ImapCursor, *, mark_done: bool) -> Pass:
    """Connect, then `list_new` a page at a time, `fetch` each message and (as the poller
    does) mark each batch done in one command, advancing the cursor."""
    started = time.perf_counter()
    messages = octets = 0
    with ImapSource(config) as source:
        cursor = start
        while True:
            listing = source.list_new(cursor, limit=PAGE)
            if not listing.refs:
                break
            refs = list(listing.refs)
            for offset in range(0, len(refs), BATCH_SIZE):
                batch = refs[offset : offset + BATCH_SIZE]
                for ref in batch:
                    octets += len(source.fetch(ref))
                    messages += 1
                if mark_done:
                    # As the poller does: one post-action per recorded batch.
                    source.mark_done_many(batch, success=True)
                for ref in batch:
                    cursor = cursor.advanced(ref)
    return Pass(messages, octets, time.perf_counter() - started)


def run_backlog(dovecot: Dovecot, count: int, rounds: int) -> None:
    user = dovecot.new_user("backlog")
    writer = MailWriter()
    raws = [
        writer.message(
            message_id=f"<backlog-{n}@customer.example>",
            sender=f"Customer {n % 300} <customer{n % 300}@customer.example>",
            subject=f"Question number {n}",
        )
        for n in range(count)
    ]
    print(f"backlog: {describe_sizes(raws)}")
    deliver_in_chunks(dovecot, user, raws, chunk=max(count, 1), label="backlog")
    config = dovecot_config(dovecot, user, timeout_seconds=60)
    with ImapSource(config) as source:
        # The first SELECT makes Dovecot index the new Maildir files: outside the timing.
        end = source.baseline()
    start = ImapCursor(end.uidvalidity, 0, end.since)
    _bare_fetch(config)  # warm the page cache and Dovecot's caches for both sides

    passes: dict[str, list[Pass]] = {name: [] for name in _BACKLOG_PASSES}
    for _ in range(rounds):
        # Every round reads unread mail from a settled folder, as a poll of a real mailbox
        # does. Marking read renames Maildir files, so Dovecot re-reads the folder from the
        # first STORE on (a cost any Maildir server has): each pass that marks starts afresh.
        _mark_unread(config)
        _settle(config)
        passes["bare"].append(_bare_fetch(config))
        passes["fetch"].append(_source_fetch(config, start, mark_done=False))
        passes["poller"].append(_source_fetch(config, start, mark_done=True))
        for name, every in (("bare+store", 1), ("bare+store batch", BATCH_SIZE)):
            _mark_unread(config)
            _settle(config)
            passes[name].append(_bare_fetch(config, store_every=every))
    best = {name: min(found, key=lambda p: p.seconds) for name, found in passes.items()}
    if {p.messages for p in best.values()} != {count} or len({p.octets for p in best.values()}) > 1:
        print(f"  WARNING: passes disagree: {best}")
    print(f"  best of {rounds} rounds, implicit TLS on loopback, one connection each:")
    for name, label in _BACKLOG_PASSES.items():
        result = best[name]
        print(
            f"  {label:<58} {result.rate:6.0f} messages/second "
            f"({result.octets / result.seconds / 2**20:5.1f} MiB/s, {result.seconds:.2f} s)"
        )
    rate = {name: p.rate for name, p in best.items()}
    print(
        f"  ratio bare/poller: {rate['bare'] / rate['poller']:.2f}x (goal <= 1.5x); "
        f"bare/fetch-only: {rate['bare'] / rate['fetch']:.2f}x; "
        f"bare+store/poller: {rate['bare+store'] / rate['poller']:.2f}x"
    )


# -- idle poll --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdleFigures:
    first_select: float
    select: float
    list_new: float
    poll: float
    one_new: float
    bare_one_new: float


def _median_seconds(action: Callable[[], object], repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _idle_figures(dovecot: Dovecot, user: MailUser, repetitions: int) -> IdleFigures:
    config = dovecot_config(dovecot, user, timeout_seconds=60)
    source = ImapSource(config)
    source.connect()
    started = time.perf_counter()
    end = source.baseline()  # the first SELECT of the folder indexes it
    first_select = time.perf_counter() - started
    source.close()
    _settle(config)
    source.connect()
    source.list_new(end)  # warm

    def listing_is_empty() -> None:
        if source.list_new(end).refs:
            raise RuntimeError("an idle poll found new mail")

    list_new = _median_seconds(listing_is_empty, repetitions)

    def whole_poll() -> None:
        with ImapSource(config) as fresh:
            fresh.list_new(end)

    poll = _median_seconds(whole_poll, max(3, repetitions // 4))

    bare = _bare_client(config)
    select = _median_seconds(lambda: bare.select("INBOX"), repetitions)
    bare.logout()

    source.close()
    dovecot.deliver(user, old_message(10**9))
    _settle(config)
    source.connect()
    source.list_new(end)  # warm

    def one_new() -> None:
        if len(source.list_new(end).refs) != 1:
            raise RuntimeError("expected exactly one new message")

    one_new_seconds = _median_seconds(one_new, repetitions)
    source.close()

    # What list_new asks, in bare imaplib: Dovecot's own share of the cost.
    new_uid = str(end.last_uid + 1)

    def bare_one_new() -> None:
        bare.select("INBOX")
        bare.uid("SEARCH", f"UID {new_uid}:*")
        bare.uid("FETCH", new_uid, "(RFC822.SIZE)")

    bare = _bare_client(config)
    bare_one_new_seconds = _median_seconds(bare_one_new, repetitions)
    bare.logout()
    return IdleFigures(first_select, select, list_new, poll, one_new_seconds, bare_one_new_seconds)


def run_idle(dovecot: Dovecot, small: int, large: int, repetitions: int) -> None:
    boxes: list[tuple[int, MailUser]] = []
    for count in (small, large):
        user = dovecot.new_user("idle")
        print(f"idle poll: filling a mailbox with {count:,} old messages", flush=True)
        raws = [old_message(n) for n in range(count)]
        deliver_in_chunks(dovecot, user, raws, chunk=10_000, label=f"{count:,} box")
        boxes.append((count, user))
    figures = [(count, _idle_figures(dovecot, user, repetitions)) for count, user in boxes]
    print(f"  median of {repetitions} repetitions (whole poll: {max(3, repetitions // 4)}), ms:")
    columns: tuple[tuple[str, Callable[[IdleFigures], float]], ...] = (
        ("list_new idle", lambda f: f.list_new),
        ("whole idle poll", lambda f: f.poll),
        ("bare SELECT", lambda f: f.select),
        ("list_new, 1 new", lambda f: f.one_new),
        ("bare, 1 new", lambda f: f.bare_one_new),
        ("first SELECT", lambda f: f.first_select),
    )
    print("  " + " " * 16 + "".join(f"{name:>17}" for name, _ in columns))
    for count, figure in figures:
        cells = "".join(f"{value(figure) * 1000:17.2f}" for _, value in columns)
        print(f"  {count:>7,} messages{cells}")
    (_, few), (_, many) = figures
    ratios = ", ".join(f"{name} {value(many) / value(few):.2f}x" for name, value in columns[:5])
    print(f"  ratio {large:,}/{small:,}: {ratios} (goal for an idle poll: ~1x)")
    print(
        "  (with one new message Dovecot reads its Maildir file list, dovecot-uidlist, to find "
        "the file behind the UID: see 'bare, 1 new')"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="backlog size")
    parser.add_argument("--rounds", type=int, default=3, help="backlog passes of each kind")
    parser.add_argument("--old-messages", type=int, default=50_000, help="the large idle box")
    parser.add_argument("--few-messages", type=int, default=10, help="the small idle box")
    parser.add_argument("--repetitions", type=int, default=40, help="idle polls timed")
    args = parser.parse_args()
    # Each connection warns that certificate checks are off (Dovecot's certificate is
    # self-signed); a line per connection would drown the figures.
    logging.getLogger("connector.sources").setLevel(logging.ERROR)
    with running_dovecot() as dovecot:
        run_backlog(dovecot, args.messages, args.rounds)
        run_idle(dovecot, args.few_messages, args.old_messages, args.repetitions)


if __name__ == "__main__":
    main()
