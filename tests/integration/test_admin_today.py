"""The "Today" count on the sources list and the project tab counts from midnight where the admin is
(the Jira user's time zone the pages send as `tz`), not from midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col

from connector.storage.models import EmailLogRow
from tests.integration.admin_support import AdminApi

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9, no daylight saving time
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def _received_at(api: AdminApi, entry_id: int, moment: datetime) -> None:
    with Session(api.app.runtime.engine) as session:
        session.execute(
            update(EmailLogRow).where(col(EmailLogRow.id) == entry_id).values(received_at=moment)
        )
        session.commit()


def test_today_starts_at_midnight_in_the_zone_asked_for(api: AdminApi) -> None:
    source = api.create(name="One")["id"]
    log = api.app.runtime.email_log
    entry = log.begin(api.tenant_id, source, "INBOX:1:1", size=10)
    # 16:00 UTC on 5 December is 01:00 on 6 December in Tokyo.
    _received_at(api, entry.id, datetime(2026, 12, 5, 16, 0, tzinfo=UTC))
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)  # 6 December everywhere but Los Angeles
    assert log.messages_today(api.tenant_id, now=now) == {}
    assert log.messages_today(api.tenant_id, now=now, zone=TOKYO) == {source: 1}
    # In Los Angeles it is 6 December 02:00 and the message came on the 5th, at 08:00.
    assert log.messages_today(api.tenant_id, now=now, zone=LOS_ANGELES) == {}


def test_sources_and_feeds_take_the_zone_and_refuse_an_unknown_one(api: AdminApi) -> None:
    source = api.create(name="One")["id"]
    api.app.runtime.email_log.begin(api.tenant_id, source, "INBOX:1:1", size=10)
    listed = api.call("GET", "/mail-sources?tz=Asia/Tokyo").json()["sources"]
    assert [s["messages_today"] for s in listed] == [1]  # received now: today everywhere
    assert api.call("GET", f"/mail-sources/{source}?tz=Asia/Tokyo").json()["messages_today"] == 1
    feeds = api.call("GET", "/projects/SUP/feeds?tz=Asia/Tokyo").json()["feeds"]
    assert [f["messages_today"] for f in feeds] == [1]
    for path in ("/mail-sources", f"/mail-sources/{source}", "/projects/SUP/feeds"):
        for zone in ("Mars/Olympus", "../etc/passwd", "Europe"):
            refused = api.call("GET", f"{path}?tz={zone}")
            assert refused.status_code == 400, (path, zone, refused.text)
            assert refused.json()["field"] == "tz"
