"""How a source receives mail right now, as the mail sources list will show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "idle": the server pushes (IMAP IDLE is running); "connecting": the idle connection is being
# opened; "graph": Microsoft Graph sends change notifications (a subscription is in place);
# "polling": mail arrives by polling only, and `reason` says why.
ReceiveMode = Literal["idle", "connecting", "graph", "polling"]

PUSH_OFF = "push is turned off for this source"
DISABLED = "the source is disabled"
NOT_IMAP = "only IMAP sources can idle; {protocol} sources are polled"
STOPPED = "push is not running"


@dataclass(frozen=True)
class PushState:
    """`reason` is empty while push works, else a sentence: why mail comes by polling."""

    mode: ReceiveMode
    reason: str = ""

    @property
    def pushing(self) -> bool:
        return self.mode in ("idle", "graph")

    def describe(self) -> str:
        if self.mode == "idle":
            return "push (IMAP IDLE)"
        if self.mode == "graph":
            return "push (Graph notifications)"
        if self.mode == "connecting":
            return "push (IMAP IDLE), connecting"
        return f"polling: {self.reason}" if self.reason else "polling"


IDLING = PushState("idle")
GRAPH_NOTIFIED = PushState("graph")
CONNECTING = PushState("connecting")


def polling(reason: str) -> PushState:
    return PushState("polling", reason)
