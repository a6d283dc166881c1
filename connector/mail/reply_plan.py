"""The reply planner: given the lines of a message, decide which are new.

Plain text and HTML are both reduced to `Line`s (text plus what the markup says about it:
inside a quote, inside a signature, the start of a client's "original message" container),
and one planner decides what to keep:

1. Scan from the top. An attribution ("On <date>, <name> wrote:" in many languages, wrapped or
   not) directly followed by a quoted block is dropped together with the block, and the scan
   goes on, so interleaved answers in an inline reply survive. An attribution followed by
   unquoted text, a quoted header block (From/Sent/To/Subject), an "Original Message" banner,
   an underscore rule, a forward banner, a signature delimiter or a "Sent from my iPhone" line
   cuts the rest of the message.
2. `>` blocks without an attribution are dropped when they are clearly history: at the start,
   at the end, after an earlier attribution, longer than one line, or one of several. A lone
   "> " line between new paragraphs is kept (it is more often an arrow than a quote). A bare
   HTML <blockquote> is history only at the start or the very end.
3. A forward is content: when the first thing removed would be a forward banner (or an
   Outlook header block whose subject starts with "FW:"), and above it there is nothing or
   a short note, the whole message is kept.
4. Trailing rules and blank lines go, then a "-Name" sign-off on the last line.
5. If nothing would remain, the whole message is kept.

Step 1 is `connector.mail.reply_scan`; steps 2 to 5 are here. Pure: no IO (DESIGN.md, "Seams").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.mail.quotes import is_separator
from connector.mail.reply_scan import Line, ReplyScan
from connector.mail.signature import is_dash_signoff

# Lines examined for history (talon caps at 1,000 for the same reason): history starts near
# the top of a reply, and per-line work on a million short lines would take seconds. Below
# the cap, lines go with the history when it was cut above and are kept otherwise.
MAX_PLANNED_LINES = 20_000
# A forward counts as the content when the note above it is at most this long.
_FORWARD_NOTE_MAX_LINES = 3
_FORWARD_NOTE_MAX_CHARS = 300


@dataclass(frozen=True)
class ReplyPlan:
    """What to keep of each line: None the whole line, 0 nothing, k > 0 its first k chars.

    `cut_line`: the line from which everything was removed as history or signature (its
    first `keep` chars excepted), or None when the end of the message was not cut.
    """

    keep: tuple[int | None, ...]
    quote_found: bool
    signature_found: bool
    kept_whole: bool
    forward_kept: bool
    cut_line: int | None


def plan_reply(lines: Sequence[Line], *, more_below: bool = False) -> ReplyPlan:
    """Decide, line by line, what is new in a reply.

    `more_below`: the lines are only the head of a longer message (callers pass at most
    `MAX_PLANNED_LINES`); what follows them is kept unless the plan cuts (`cut_line`).
    """
    return _Planner(lines, more_below=more_below).plan()


class _Planner(ReplyScan):
    def __init__(self, lines: Sequence[Line], *, more_below: bool = False) -> None:
        super().__init__(lines, more_below=more_below)
        self._quiet_from: int | None = None

    def plan(self) -> ReplyPlan:
        self._scan()
        self._decide_blocks()
        if self._is_whole_forward():
            return self._keep_everything(forward=True)
        self._apply_cut()
        if self.cut is not None or not self.more_below:
            if any(keep is not None for keep in self.keep):
                self._drop_trailing_decoration()
            self._drop_dash_signoff()
        if not any(self._has_kept_text(index) for index in range(self.count)):
            return self._keep_everything(forward=False)
        return ReplyPlan(
            tuple(self.keep), self.quote_found, self.signature_found, False, False, self.cut
        )

    def _keep_everything(self, *, forward: bool) -> ReplyPlan:
        return ReplyPlan(
            (None,) * self.count,
            quote_found=self.quote_found and not forward,
            signature_found=self.signature_found and not forward,
            kept_whole=not forward,
            forward_kept=forward,
            cut_line=None,
        )

    # -- step 2: unattributed quoted blocks --------------------------------------------------

    def _decide_blocks(self) -> None:
        if not self.blocks:
            return
        limit = self.cut if self.cut is not None else self.count
        nothing_after = not (self.cut is not None and self.cut_offset > 0) and not (
            self.cut is None and self.more_below
        )
        markers = sum(1 for block in self.blocks if block.kind == "marker")
        first_content = next(
            (
                index
                for index in range(self.count)
                if not self.blank[index]
                and self.keep[index] != 0
                and self.lines[index].quote is None
            ),
            None,
        )
        position = limit
        for number in range(len(self.blocks) - 1, -1, -1):
            block = self.blocks[number]
            gap_has_content = any(
                not self.blank[index] and self.keep[index] != 0
                for index in range(block.end, position)
            )
            trailing = nothing_after and not gap_has_content
            if block.kind == "block" and not block.attributed:
                # A bare <blockquote> may be the sender's own quotation: it counts as history
                # only when nothing at all follows it, not even the attribution or header
                # where the real history starts.
                trailing = self._only_signature_after(block.end)
            at_start = number == 0 and (first_content is None or first_content > block.start)
            block.quoted = (
                block.attributed
                or block.kind == "cite"
                or trailing
                or at_start
                or (
                    block.kind == "marker"
                    and (
                        block.after_attribution
                        or markers > 1
                        or self._nonblank_count(block.start, block.end) > 1
                    )
                )
            )
            nothing_after = trailing and block.quoted
            position = block.start
        for block in self.blocks:
            if block.quoted:
                for index in range(block.start, block.end):
                    self.keep[index] = 0
                self.events.append(block.start)
                self.quote_found = True

    def _only_signature_after(self, start: int) -> bool:
        if self.cut is not None and self.cut_reason != "signature":
            return False
        if self.cut is None and self.more_below:
            return False
        if self._quiet_from is None:
            # Computed once: the first line from which only blank and signature lines remain
            # (a message of many bare blockquotes must not cost a pass for each).
            limit = self.cut if self.cut is not None else self.count
            quiet = limit
            while quiet > 0 and (self.blank[quiet - 1] or self.lines[quiet - 1].signature):
                quiet -= 1
            self._quiet_from = quiet
        return start >= self._quiet_from

    def _nonblank_count(self, start: int, end: int) -> int:
        return sum(1 for index in range(start, end) if not self.blank[index])

    # -- step 3: forwards --------------------------------------------------------------------

    def _is_whole_forward(self) -> bool:
        events = list(self.events)
        if self.cut is not None:
            events.append(self.cut)
        if not events:
            return False
        first = min(events)
        if self.forward_after_signature is not None and first == self.cut:
            is_forward = True
        else:
            is_forward = self._is_forward_at(first)
        return is_forward and self._is_short_note(first)

    def _is_short_note(self, end: int) -> bool:
        note = [
            self._kept_text(index).strip()
            for index in range(end)
            if not self.lines[index].signature and self._kept_text(index).strip()
        ]
        return len(note) <= _FORWARD_NOTE_MAX_LINES and sum(map(len, note)) <= (
            _FORWARD_NOTE_MAX_CHARS
        )

    # -- step 4: tidying the end -------------------------------------------------------------

    def _apply_cut(self) -> None:
        if self.cut is None:
            return
        self.keep[self.cut] = self.cut_offset
        for index in range(self.cut + 1, self.count):
            self.keep[index] = 0

    def _has_kept_text(self, index: int) -> bool:
        return (
            not self.blank[index] and self.keep[index] != 0 and bool(self._kept_text(index).strip())
        )

    def _kept_text(self, index: int) -> str:
        keep = self.keep[index]
        if keep is None:
            return self.texts[index]
        return self.texts[index][:keep]

    def _drop_trailing_decoration(self) -> None:
        for index in range(self.count - 1, -1, -1):
            if self.keep[index] == 0:
                continue
            if self.blank[index]:
                self.keep[index] = 0
                continue
            text = self._kept_text(index)
            if text.strip() and not is_separator(text):
                return
            self.keep[index] = 0

    def _drop_dash_signoff(self) -> None:
        kept: list[int] = []  # the last two lines with text, bottom first
        for index in range(self.count - 1, -1, -1):
            if self._has_kept_text(index):
                kept.append(index)
                if len(kept) == 2:
                    break
        if len(kept) < 2:
            return
        last, above = kept
        if not any(self.keep[index] != 0 and self.blank[index] for index in range(above, last)):
            return  # no blank line between the text and the sign-off
        if self.lines[last].quote is None and is_dash_signoff(
            self._kept_text(last), self._kept_text(above)
        ):
            self.keep[last] = 0
            self.signature_found = True
            self._drop_trailing_decoration()
