"""Which thread a message's delivery runs in (`connector.delivery_order`), and the message
refs a later fetch rebuilds from stored keys to do the post-actions owed."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from connector.delivery_order import order_keys, threading_of
from connector.sources.base import MessageRef


def _raw(subject: str = "Printer on fire", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.com>"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("text\n")
    return message.as_bytes()


def test_a_thread_is_named_by_its_root_whatever_a_reply_keeps_of_it() -> None:
    new = threading_of(_raw(Message_ID="<root@x>"))
    reply = threading_of(_raw("Re: Printer on fire", Message_ID="<r1@x>", References="<root@x>"))
    deeper = threading_of(
        _raw("Re: Printer on fire", Message_ID="<r2@x>", References="<root@x> <r1@x>")
    )
    assert new.lock(7) == reply.lock(7) == deeper.lock(7)
    assert new.lock(7) != new.lock(8)  # one lock per tenant
    assert new.lock(7).startswith("thread-7-") and len(new.lock(7)) <= 64
    assert deeper.parents == ("root@x", "r1@x")
    assert new.own_digest != "" and reply.parent_digests == [new.own_digest]


def test_without_references_in_reply_to_then_the_own_id_then_the_subject_name_it() -> None:
    parent_only = threading_of(_raw(Message_ID="<r3@x>", In_Reply_To="<r1@x>"))
    assert parent_only.root == "id:r1@x"
    assert threading_of(_raw(Message_ID="<solo@x>")).root == "id:solo@x"
    no_ids = threading_of(_raw("RE: Fwd: Printer on fire"))
    assert no_ids.root == "subject:printer on fire"
    assert no_ids.own is None and no_ids.own_digest == "" and no_ids.parents == ()


def test_inline_order_keys_still_relate_replies_senders_and_subjects() -> None:
    after, provides = order_keys(_raw("Re: Printer", Message_ID="<b@x>", References="<a@x>"))
    assert "id:a@x" in after and "id:a@x" not in provides
    assert {"id:b@x", "from:customer@example.com", "subject:printer"} <= provides


@pytest.mark.parametrize(
    ("ref", "protocol"),
    [
        (MessageRef("42", 0, "Support/Inbound: EU", 1700000000), "imap"),
        (MessageRef("abc:def=", 0, "INBOX"), "pop3"),
        (MessageRef("AAMkAGI2TG93AAA=", 0, "Inbox/Support: EU"), "graph"),
    ],
)
def test_a_stored_message_key_gives_the_ref_back(ref: MessageRef, protocol: str) -> None:
    assert MessageRef.from_key(ref.key, protocol) == ref
