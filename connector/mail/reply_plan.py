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

Pure: no IO (DESIGN.md, "Seams").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from connector.mail.attribution import find_attributions, is_dated_address_line
from connector.mail.quotes import (
    is_forward_banner,
    is_original_message_banner,
    is_separator,
    is_underscore_rule,
    label_kinds,
    match_header_block,
    strip_quote_markers,
)
from connector.mail.signature import (
    is_dash_signoff,
    is_mobile_signature,
    is_signature_delimiter,
)

# "marker": a `>` line of plain text; "cite": markup that says "quoted" (blockquote type=cite,
# Gmail's gmail_quote); "block": a bare <blockquote>, also used to indent one's own text.
QuoteKind = Literal["marker", "cite", "block"]
_CutReason = Literal["quote", "forward", "signature"]

# Lines examined for history (talon caps at 1,000 for the same reason): history starts near
# the top of a reply, and per-line work on a million short lines would take seconds. Below
# the cap, lines go with the history when it was cut above and are kept otherwise.
MAX_PLANNED_LINES = 20_000
# A forward counts as the content when the note above it is at most this long.
_FORWARD_NOTE_MAX_LINES = 3
_FORWARD_NOTE_MAX_CHARS = 300
# How far below a signature to look for the forward it introduces ("FYI\n-- \nBob\n\n----
# Forwarded message ----").
_SIGNATURE_LOOKAHEAD_LINES = 20


class Line(NamedTuple):
    """One line of a message as the planner sees it (a tuple: built once per line)."""

    text: str
    quote: QuoteKind | None = None
    # The first line of a client's "here starts the original" container (Outlook's
    # divRplyFwdMsg): everything from here on is history.
    forced_cut: bool = False
    # Inside markup that says "signature" (Gmail's gmail_signature, Thunderbird's moz-signature).
    signature: bool = False


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


@dataclass
class _Block:
    start: int
    end: int  # exclusive
    kind: QuoteKind
    attributed: bool
    after_attribution: bool
    quoted: bool = False


class _Planner:
    def __init__(self, lines: Sequence[Line], *, more_below: bool = False) -> None:
        self.lines = lines
        self.more_below = more_below
        self.texts = [line.text for line in lines]
        self.count = len(lines)
        self.blank = [not text.strip() for text in self.texts]
        self.keep: list[int | None] = [None] * self.count
        self.blocks: list[_Block] = []
        self.events: list[int] = []  # lines where something was removed
        self.cut: int | None = None
        self.cut_offset = 0
        self.cut_reason: _CutReason | None = None
        self.forward_after_signature: int | None = None
        self._quiet_from: int | None = None
        self.quote_found = False
        self.signature_found = False
        self.kinds = label_kinds(self.texts)
        self.attributions = find_attributions(
            self.texts, [line.quote is not None for line in lines]
        )

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

    # -- step 1: the scan --------------------------------------------------------------------

    def _scan(self) -> None:
        index = 0
        seen_attribution = False
        while index < self.count:
            line = self.lines[index]
            if line.forced_cut:
                self._set_cut(index, 0, "quote")
                return
            if line.signature:
                self.keep[index] = 0
                self.signature_found = True
                self.events.append(index)
                index += 1
                continue
            if self.blank[index]:
                index += 1
                continue
            span = self.attributions.get(index) if line.quote is None else None
            if span is not None:
                end, offset = span
                follower = self._next_nonblank(end)
                if follower is not None and self.lines[follower].quote is not None:
                    self._drop_attribution(index, end, offset)
                    index = self._add_block(follower, attributed=True, after_attribution=True)
                    seen_attribution = True
                    continue
                self._set_cut(index, offset, "quote")
                return
            if line.quote is not None:
                attributed = self._drop_dated_address_above(index)
                index = self._add_block(
                    index, attributed=attributed, after_attribution=seen_attribution
                )
                continue
            reason = self._cut_reason(index)
            if reason is not None:
                self._set_cut(index, 0, reason)
                return
            index += 1

    def _cut_reason(self, index: int) -> _CutReason | None:
        text = self.texts[index]
        if self._header_block_at(index):
            return "quote"
        if is_original_message_banner(text) or is_underscore_rule(text):
            return "quote"
        if is_forward_banner(text):
            return "forward"
        if is_signature_delimiter(text) or is_mobile_signature(text):
            return "signature"
        return None

    def _set_cut(self, index: int, offset: int, reason: _CutReason) -> None:
        if offset and not self.texts[index][:offset].strip(" \t-"):
            offset = 0
        self.cut, self.cut_offset, self.cut_reason = index, offset, reason
        if reason == "signature":
            self.signature_found = True
            self._look_below_signature(index)
        else:
            self.quote_found = True

    def _look_below_signature(self, index: int) -> None:
        """What follows a signature: the forward it introduces, or the history it tops."""
        for below in range(index + 1, self.count):
            if below <= index + _SIGNATURE_LOOKAHEAD_LINES and self._is_forward_at(below):
                self.forward_after_signature = below
                return
            text = self.texts[below]
            if (
                self.lines[below].quote is not None
                or self.lines[below].forced_cut
                or below in self.attributions
                or is_original_message_banner(text)
                or is_underscore_rule(text)
                or self._header_block_at(below)
            ):
                self.quote_found = True
                return

    def _header_block_at(self, index: int) -> bool:
        return (
            self.kinds[index] is not None
            and match_header_block(self.texts, index, self.kinds) is not None
        )

    def _drop_attribution(self, start: int, end: int, offset: int) -> None:
        prefix = self.texts[start][:offset]
        self.keep[start] = len(prefix.rstrip(" \t-")) if prefix.strip(" \t-") else 0
        for index in range(start + 1, end):
            self.keep[index] = 0
        self.events.append(start)
        self.quote_found = True

    def _drop_dated_address_above(self, index: int) -> bool:
        """A dated address line ("2011/4/7 Nathan <support@example.com>") right above a
        quote attributes it."""
        above = self._previous_nonblank(index)
        if (
            above is not None
            and self.keep[above] is None
            and self.lines[above].quote is None
            and is_dated_address_line(self.texts[above])
        ):
            self.keep[above] = 0
            self.events.append(above)
            return True
        return False

    def _add_block(self, start: int, *, attributed: bool, after_attribution: bool) -> int:
        """Record the quoted block starting at `start`; return where it ends."""
        end = self._block_end(start)
        kinds = {self.lines[index].quote for index in range(start, end)}
        kind: QuoteKind = "cite" if "cite" in kinds else "marker" if "marker" in kinds else "block"
        self.blocks.append(_Block(start, end, kind, attributed, after_attribution))
        return end

    def _block_end(self, start: int) -> int:
        """End (exclusive) of the quoted block at `start`, across blank lines and the lines a
        sender's client wrapped out of the quote ("> ... Nullam pharetra d\\nignissim odio?")."""
        index = last_quoted = start
        while index < self.count:
            line = self.lines[index]
            if line.quote is not None and not line.forced_cut:
                last_quoted = index
                index += 1
            elif self.blank[index] or self._is_wrapped_continuation(index):
                index += 1
            else:
                break
        return last_quoted + 1

    def _is_wrapped_continuation(self, index: int) -> bool:
        # Up to two unquoted lines glued between marker lines, starting lower-case or with
        # punctuation: a reply line would start a sentence and be set apart by blank lines.
        if self.lines[index - 1].quote != "marker" or self.blank[index - 1]:
            return False
        first = self.texts[index].lstrip()[:1]
        if not first or (first.isalnum() and not first.islower()):
            return False
        for below in (index + 1, index + 2):
            if below >= self.count or self.blank[below]:
                return False
            if self.lines[below].quote == "marker":
                return True
        return False

    def _next_nonblank(self, start: int) -> int | None:
        for index in range(start, self.count):
            if not self.blank[index]:
                return index
        return None

    def _previous_nonblank(self, start: int) -> int | None:
        for index in range(start - 1, -1, -1):
            if not self.blank[index]:
                return index
        return None

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

    def _is_forward_at(self, index: int) -> bool:
        # Skip the blank lines and rules Outlook puts above its header block.
        for candidate in range(index, min(self.count, index + 6)):
            text = self.texts[candidate]
            if self.lines[candidate].quote == "marker":
                text = strip_quote_markers(text)
            if not text.strip() or is_separator(text):
                continue
            if is_forward_banner(text):
                return True
            block = match_header_block(self.texts, candidate, self.kinds)
            return block is not None and block.is_forward
        return False

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
