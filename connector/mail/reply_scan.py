"""Step 1 of the reply planner (`connector.mail.reply_plan`): the scan from the top.

`Line` is a line of a message as the planner sees it, whether it came from plain text or HTML.
`ReplyScan` walks the lines once: it drops attributions with the quoted blocks they introduce,
records the other quoted blocks (`QuoteBlock`) for step 2 to judge, and finds where the rest of
the message is cut (an unquoted attribution, a header block, a banner, a signature).

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
from connector.mail.signature import is_mobile_signature, is_signature_delimiter

# "marker": a `>` line of plain text; "cite": markup that says "quoted" (blockquote type=cite,
# Gmail's gmail_quote); "block": a bare <blockquote>, also used to indent one's own text.
QuoteKind = Literal["marker", "cite", "block"]
CutReason = Literal["quote", "forward", "signature"]

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


@dataclass
class QuoteBlock:
    start: int
    end: int  # exclusive
    kind: QuoteKind
    attributed: bool
    after_attribution: bool
    quoted: bool = False


class ReplyScan:
    """The scan's findings; `connector.mail.reply_plan` decides the rest on them."""

    def __init__(self, lines: Sequence[Line], *, more_below: bool = False) -> None:
        self.lines = lines
        self.more_below = more_below
        self.texts = [line.text for line in lines]
        self.count = len(lines)
        self.blank = [not text.strip() for text in self.texts]
        self.keep: list[int | None] = [None] * self.count
        self.blocks: list[QuoteBlock] = []
        self.events: list[int] = []  # lines where something was removed
        self.cut: int | None = None
        self.cut_offset = 0
        self.cut_reason: CutReason | None = None
        self.forward_after_signature: int | None = None
        self.quote_found = False
        self.signature_found = False
        self.kinds = label_kinds(self.texts)
        self.attributions = find_attributions(
            self.texts, [line.quote is not None for line in lines]
        )

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

    def _cut_reason(self, index: int) -> CutReason | None:
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

    def _set_cut(self, index: int, offset: int, reason: CutReason) -> None:
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
        self.blocks.append(QuoteBlock(start, end, kind, attributed, after_attribution))
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
