"""Outgoing mail: one row per recipient, the audit list and the send queue at once.

A row is written (with the whole MIME message, encrypted) before anything is sent, and the
`dedupe_key` (event and recipient) is unique, so a webhook Jira delivers twice, or an event
handled twice after a crash, queues one mail.

Workers claim one due row at a time (`connector.storage.retry_queue`) with a lease longer than
one send can take, renew it just before sending, and write the outcome only while they still
hold it, so two worker processes never both send a row. A worker that dies mid-send leaves a
lease that expires and the row is sent again (at-least-once in that one case; its Message-ID
stays the same, so the copies thread together).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from connector.storage.models import OutboundMessageRow
from connector.storage.retry_queue import RetryQueue
from connector.storage.secrets import SecretBox
from connector.storage.times import as_utc, as_utc_or_none, utc_now

QUEUED, SENDING, SENT, RETRY, FAILED = "queued", "sending", "sent", "retry", "failed"
STATUSES = (QUEUED, SENDING, SENT, RETRY, FAILED)
# One send is at most four steps (connect, TLS, sign-in, send) of up to 120 s each.
LEASE = timedelta(minutes=10)
_CLAIM_CANDIDATES = 5


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    tenant_id: int
    kind: str
    event_id: int | None
    issue_key: str | None
    recipient: str
    recipient_name: str
    subject: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    error: str
    content_kept: bool
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    lease_until: datetime | None = None  # the claim's token while status is sending


@dataclass(frozen=True)
class NewMessage:
    tenant_id: int
    kind: str
    dedupe_key: str
    recipient: str
    subject: str
    message_id: str
    raw: bytes
    recipient_name: str = ""
    issue_key: str | None = None
    event_id: int | None = None
    # A mail that could not be made as asked (its template failed) is recorded failed at once,
    # with why, so the admin sees it in the list and may retry it.
    error: str = ""


class Outbox(RetryQueue[OutboundMessageRow, OutboundMessage]):
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        super().__init__(
            engine,
            OutboundMessageRow,
            waiting=(QUEUED, RETRY),
            working=SENDING,
            lease_column="lease_expires_at",
            claim_order=("next_attempt_at", "id"),
        )
        self._secrets = secrets

    def enqueue(self, new: NewMessage) -> OutboundMessage | None:
        """Queue a mail (failed at once when it has an `error`); None when one with this
        dedupe key exists already."""
        now = utc_now()
        return self._insert(
            OutboundMessageRow(
                tenant_id=new.tenant_id,
                kind=new.kind,
                event_id=new.event_id,
                dedupe_key=new.dedupe_key[:255],
                issue_key=new.issue_key,
                recipient=new.recipient,
                recipient_name=new.recipient_name[:255],
                subject=new.subject,
                message_id=new.message_id,
                status=FAILED if new.error else QUEUED,
                error=new.error,
                next_attempt_at=None if new.error else now,
                raw_encrypted=self._secrets.encrypt(new.raw.decode("utf-8", "surrogateescape")),
            )
        )

    def claim_next(
        self, now: datetime, *, skip_tenants: Collection[int] = ()
    ) -> OutboundMessage | None:
        """The next due row (queued, retry, or sending with an expired lease), leased to us;
        None when nothing is due. Rows of `skip_tenants` are left for a later round."""
        claimed = self._claim(
            now, lease=LEASE, candidates=_CLAIM_CANDIDATES, take=1, skip_tenants=skip_tenants
        )
        return claimed[0] if claimed else None

    def claim(self, message_id: int, now: datetime) -> OutboundMessage | None:
        """This row leased to us if it is due, as `claim_next` would take it; None when it
        is not (sent or failed, not yet due, or another worker holds its lease)."""
        return self._claim_id(message_id, now, lease=LEASE)

    def due(self, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(id, tenant_id) of the first `limit` rows `claim_next` would take now."""
        return self._due_ids(now, limit)

    def renew(self, message: OutboundMessage, now: datetime) -> OutboundMessage | None:
        """Extend our lease on `message` just before sending; None when it is no longer ours
        (it expired and another worker claimed the row): then we must not send it."""
        if message.lease_until is None:
            return None
        lease = self._renew(message.id, message.lease_until, now, LEASE)
        return None if lease is None else replace(message, lease_until=lease)

    def raw(self, message_id: int) -> bytes | None:
        with Session(self._engine) as session:
            row = session.get(OutboundMessageRow, message_id)
            if row is None or row.raw_encrypted is None:
                return None
            return self._secrets.decrypt(row.raw_encrypted).encode("utf-8", "surrogateescape")

    def finish(
        self,
        message: OutboundMessage | int,
        status: str,
        error: str = "",
        *,
        retry_at: datetime | None = None,
    ) -> bool:
        """`sent`, `failed`, or `retry` at `retry_at`; False when nothing was written.

        A claimed message (one with `lease_until`) is finished only while its lease is still
        ours, so a worker that lost it cannot overwrite what the new holder does. A bare id
        is an admin's change to a message no worker holds."""
        now = utc_now()
        values: dict[str, object] = {
            "status": status,
            "error": error,
            "lease_expires_at": None,
            "next_attempt_at": retry_at if status == RETRY else None,
            "updated_at": now,
        }
        if status == SENT:
            values["sent_at"] = now
        if isinstance(message, OutboundMessage):
            return self._set(message.id, values, token=message.lease_until)
        return self._set(message, values)

    def retry(self, tenant_id: int, message_id: int) -> OutboundMessage | None:
        """Queue a failed mail again now (the admin's retry); None if absent or not failed."""
        with Session(self._engine) as session:
            row = session.get(OutboundMessageRow, message_id)
            if row is None or row.tenant_id != tenant_id or row.status != FAILED:
                return None
            row.status, row.attempts, row.next_attempt_at = QUEUED, 0, utc_now()
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return self._value(row)

    def search(
        self,
        tenant_id: int,
        *,
        status: str | None = None,
        issue_key: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[OutboundMessage]:
        return self._search(
            tenant_id, limit=limit, before_id=before_id, status=status, issue_key=issue_key
        )

    def sent_message_ids(self, tenant_id: int, issue_key: str) -> list[tuple[datetime, str]]:
        """(when, Message-ID) of the mail sent about an issue, for References."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(OutboundMessageRow.created_at, OutboundMessageRow.message_id).where(
                    OutboundMessageRow.tenant_id == tenant_id,
                    OutboundMessageRow.issue_key == issue_key,
                    OutboundMessageRow.status == SENT,
                )
            ).all()
            return [(as_utc(when), mid) for when, mid in rows]

    def count_recent(self, tenant_id: int, kind: str, recipient: str, since: datetime) -> int:
        with Session(self._engine) as session:
            found = session.exec(
                select(func.count()).where(
                    OutboundMessageRow.tenant_id == tenant_id,
                    OutboundMessageRow.kind == kind,
                    func.lower(OutboundMessageRow.recipient) == recipient.lower(),
                    col(OutboundMessageRow.created_at) >= since,
                )
            ).one()
            return int(found)

    def purge_content(self, tenant_id: int, before: datetime) -> int:
        """Forget the MIME of finished mail created before `before`; the audit row stays."""
        with Session(self._engine) as session:
            result = session.execute(
                update(OutboundMessageRow)
                .where(
                    col(OutboundMessageRow.tenant_id) == tenant_id,
                    col(OutboundMessageRow.status).in_((SENT, FAILED)),
                    col(OutboundMessageRow.raw_encrypted).is_not(None),
                    col(OutboundMessageRow.created_at) < before,
                )
                .values(raw_encrypted=None)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _value(self, row: OutboundMessageRow) -> OutboundMessage:
        assert row.id is not None
        return OutboundMessage(
            id=row.id,
            tenant_id=row.tenant_id,
            kind=row.kind,
            event_id=row.event_id,
            issue_key=row.issue_key,
            recipient=row.recipient,
            recipient_name=row.recipient_name,
            subject=row.subject,
            message_id=row.message_id,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=as_utc_or_none(row.next_attempt_at),
            error=row.error,
            content_kept=row.raw_encrypted is not None,
            created_at=as_utc(row.created_at),
            sent_at=as_utc_or_none(row.sent_at),
            updated_at=as_utc(row.updated_at),
            lease_until=as_utc_or_none(row.lease_expires_at) if row.status == SENDING else None,
        )
