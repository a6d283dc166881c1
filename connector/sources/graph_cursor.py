"""The position in a Microsoft Graph folder: a delta link plus the messages not yet done.

A delta query hands out opaque state URLs ("Use delta query to track changes in Microsoft Graph
data"): `@odata.nextLink` mid-round, `@odata.deltaLink` at its end. Either one resumes where it
was issued, so the cursor keeps the last one seen in `delta_link`. The messages a listing found
before that link are in `pending` until the caller marks each one done (`advanced`): a crash
between listing and processing lists them again rather than losing them. Kept apart from
`graph.py` so `base.py` can name it without importing httpx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.sources.base import MessageRef


@dataclass(frozen=True)
class GraphCursor:
    """`since`: the moment the source was first connected (or the admin's backlog start); a
    delta round that has to start over (an expired delta token) starts from there.
    `resync`: such a round is under way, so its messages may have been processed before."""

    delta_link: str
    since: datetime
    pending: tuple[str, ...] = ()
    resync: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.delta_link, str) or not self.delta_link.startswith("https://"):
            raise ValueError("delta_link must be the https URL Microsoft Graph handed out")
        if not isinstance(self.since, datetime) or self.since.tzinfo is None:
            raise ValueError(f"since must be a datetime with a time zone, not {self.since!r}")
        if not isinstance(self.pending, tuple) or not all(
            isinstance(uid, str) and uid for uid in self.pending
        ):
            raise ValueError("pending must be a list of message ids")

    def advanced(self, ref: MessageRef) -> GraphCursor:
        if ref.uidvalidity is not None:
            raise ValueError(f"{ref!r} is not a Microsoft Graph message")
        return replace(self, pending=tuple(uid for uid in self.pending if uid != ref.uid))

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "graph",
                "delta_link": self.delta_link,
                "since": self.since.isoformat(),
                "pending": list(self.pending),
                "resync": self.resync,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> GraphCursor:
        try:
            data: Any = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cursor is not JSON: {text!r}") from exc
        if not isinstance(data, dict) or data.get("kind") != "graph":
            raise ValueError(f"not a Microsoft Graph cursor: {text!r}")
        try:
            since = datetime.fromisoformat(data["since"])
            pending = data.get("pending", [])
            if not isinstance(pending, list):
                raise TypeError("pending")
            return cls(data["delta_link"], since, tuple(pending), bool(data.get("resync")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a Microsoft Graph cursor: {text!r}") from exc
