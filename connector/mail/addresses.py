"""Address lists (RFC 5322 §3.4) read the way mail clients read them, sloppiness included.

The tokenizer runs on the raw value, before encoded words are decoded, so a comma inside
`=?iso-8859-1?Q?B=FCrling,_Andreas?=` does not split a mailbox; display names are decoded
afterwards. Recoveries: bare `Name addr@host` without brackets, quoted addresses with no
name, `addr (Name)` comments, empty `<>`, groups, stray brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.mail.headers import clean_text, decode_8bit, decode_encoded_words
from connector.mail.inbound import Address

_TOKEN = re.compile(
    r"""
    (?P<word>=\?[^?\s]+\?[bBqQ]\?[^?]*\?=)          # encoded word, commas and all
    |(?P<quoted>"(?:[^"\\]|\\.)*(?:"|$))
    |(?P<comment>\((?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*\)?)
    |(?P<angle><[^<>]*>?)
    |(?P<space>\s+)
    |(?P<special>[,:;@\[\]>)])
    |(?P<atom>[^\s"(),:;<>@\[\]]+)
    """,
    re.VERBOSE | re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_MAX_MAILBOXES = 1000


@dataclass
class _Mailbox:
    tokens: list[tuple[str, str]]
    addressed: bool = False  # an angle address or "@" seen: a later ":" is no group name

    def comments(self) -> str:
        return " ".join(_unquote_comment(text) for kind, text in self.tokens if kind == "comment")


def _phrase(tokens: list[tuple[str, str]]) -> str:
    """A display name's text: quoted strings unquoted, comments left out."""
    parts: list[str] = []
    for kind, text in tokens:
        if kind == "quoted":
            parts.append(_unquote(text))
        elif kind == "space":
            parts.append(" ")
        elif kind != "comment":
            parts.append(text)
    return "".join(parts)


def _unquote(text: str) -> str:
    inner = text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
    return _QUOTED_PAIR.sub(r"\1", inner)


def _unquote_comment(text: str) -> str:
    inner = text[1:-1] if text.endswith(")") else text[1:]
    return _QUOTED_PAIR.sub(r"\1", inner).strip()


def _split_mailboxes(value: str) -> list[_Mailbox]:
    mailboxes = [_Mailbox([])]
    for match in _TOKEN.finditer(value):
        kind = match.lastgroup or "atom"
        text = match.group()
        current = mailboxes[-1]
        if kind == "special" and text in ",;":
            if len(mailboxes) >= _MAX_MAILBOXES:
                break
            mailboxes.append(_Mailbox([]))
        elif kind == "special" and text == ":" and not current.addressed:
            current.tokens.clear()  # "group-name:" (RFC 5322 §3.4) names no mailbox
        else:
            current.tokens.append((kind, text))
            current.addressed = current.addressed or kind == "angle" or text == "@"
    return [box for box in mailboxes if any(kind != "space" for kind, _ in box.tokens)]


def _close_up(address: str) -> str:
    """Drop whitespace beside "@" and "." (obsolete FWS inside an addr-spec); keep other
    spaces, which some mailers really put in local parts."""
    words = address.split()
    joined = words[0] if words else ""
    for word in words[1:]:
        glue = "" if joined.endswith(("@", ".")) or word.startswith(("@", ".")) else " "
        joined += glue + word
    return joined


def _normalise(address: str) -> str:
    address = address.strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    if address.startswith("@") and ":" in address:  # obsolete source route: <@a,@b:user@c>
        address = address.split(":", 1)[1]
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def _name(text: str, hints: tuple[str, ...]) -> str:
    decoded, _ = decode_encoded_words(text.strip(), hints)
    name = clean_text(decoded).strip()
    if len(name) > 1 and name[0] == name[-1] == "'":  # Outlook's 'Name' <addr>
        name = name[1:-1].strip()
    return name


def _read_mailbox(box: _Mailbox, hints: tuple[str, ...]) -> Address:
    tokens = box.tokens
    angles = [index for index, (kind, _) in enumerate(tokens) if kind == "angle"]
    if angles:
        index = angles[-1] if tokens[angles[-1]][1].strip("<>").strip() else angles[0]
        # Comments and folding whitespace inside the brackets are not part of the address
        # (RFC 5322 §3.4.1, §4.4): <pete(his account)@silly.test(his host)>.
        address = _COMMENT.sub("", tokens[index][1].lstrip("<").rstrip(">"))
        if "@" in address:
            address = _close_up(address)
        name = _name(_phrase(tokens[:index]), hints) or _name(box.comments(), hints)
        return Address(_normalise(address), name)
    significant = [(kind, text) for kind, text in tokens if kind not in ("space", "comment")]
    if len(significant) == 1 and significant[0][0] == "quoted":
        # A quoted string alone: "user@host" is an address in quotes, "John Doe" a bare name.
        inner = _unquote(significant[0][1]).strip()
        if "@" in inner and " " not in inner:
            return Address(_normalise(inner), _name(box.comments(), hints))
        return Address("", _name(inner, hints))
    # Rebuild the addr-spec from the tokens in order; whitespace splits "Name addr@host".
    chunks: list[list[tuple[str, str]]] = [[]]
    for kind, text in tokens:
        if kind == "comment" or (kind == "special" and text in ">)"):
            continue
        if kind != "space":
            chunks[-1].append((kind, text))
        elif chunks[-1]:
            chunks.append([])
    chunks = _join_at_signs([chunk for chunk in chunks if chunk])
    address = "".join(text for kind, text in chunks[-1]) if chunks else ""
    name = ""
    if len(chunks) > 1 and "@" in address:
        words = [_phrase(chunk) for chunk in chunks[:-1]]
        name = _name(" ".join(words), hints)
    elif len(chunks) > 1:
        address = " ".join("".join(text for _, text in chunk) for chunk in chunks)
    return Address(_normalise(address), name or _name(box.comments(), hints))


def _join_at_signs(chunks: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """Whitespace beside "@" is obsolete syntax inside one addr-spec (RFC 5322 §4.4)."""
    joined: list[list[tuple[str, str]]] = []
    for chunk in chunks:
        if joined and (chunk[0][1] == "@" or joined[-1][-1][1] == "@"):
            joined[-1].extend(chunk)
        else:
            joined.append(chunk)
    return joined


def is_usable(address: Address) -> bool:
    """Something a reply could be sent to: not `<>`, not `[??????]`."""
    return any(character.isalnum() for character in address.address)


def parse_addresses(raw: str, hints: tuple[str, ...] = ()) -> tuple[Address, ...]:
    """Every mailbox in a raw address-list header value, empty ones included."""
    value, _ = decode_8bit(raw, hints)
    return tuple(_read_mailbox(box, hints) for box in _split_mailboxes(value))
