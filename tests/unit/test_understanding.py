"""The understanding step: what a message becomes for an issue and for a comment."""

from __future__ import annotations

import pytest

from connector.jira.adf import JIRA_TEXT_LIMIT, serialized_length
from connector.jira.errors import JiraBadRequest
from connector.mail_fields import with_author_line
from connector.pipeline.deliver import is_too_long
from connector.pipeline.understanding import MAX_RENDERED_CHARS, understand


def _mail(body: str, content_type: str = "text/plain") -> bytes:
    head = f"From: a@example.com\nSubject: s\nContent-Type: {content_type}; charset=utf-8\n\n"
    return (head + body).encode()


# A hang guard, not a speed target: rendering megabytes line by line used to take minutes.
@pytest.mark.timeout(60)
def test_understand_huge_text_is_cut_for_jira_and_kept_whole_for_the_attachment() -> None:
    body = "A\n\n" * (2 * MAX_RENDERED_CHARS // 3)
    result = understand(_mail(body))
    for rendering in (result.description, result.reply):
        assert rendering.fitted.truncated
        assert rendering.fitted.full_text is not None
        assert rendering.fitted.full_text.strip() == body.strip()
        assert "full-message.txt" in str(rendering.document["content"][-1])


@pytest.mark.timeout(60)
def test_understand_huge_html_is_cut_at_a_tag_and_stays_valid_adf() -> None:
    body = "<p>line</p>\n" * (MAX_RENDERED_CHARS // 10)
    result = understand(_mail(body, "text/html"))
    assert result.description.fitted.truncated
    texts = str(result.description.document)
    assert "line" in texts and "<p" not in texts


def test_understand_reply_without_quote_reuses_the_description() -> None:
    result = understand(_mail("Just one line."))
    assert result.reply.fitted is result.description.fitted
    assert not result.reply.quote_found


def test_understand_reply_drops_the_quote_but_description_keeps_it() -> None:
    body = "New text.\n\nOn Mon, 1 Jan 2024, B <b@example.com> wrote:\n> old text\n"
    result = understand(_mail(body))
    assert result.reply.quote_found
    assert "old text" not in result.reply.text
    assert "old text" in result.description.text


def test_understand_notes_a_guessed_charset_for_the_trail() -> None:
    # Issue 19: undeclared ISO-2022-JP is read by its escape sequences, and the guess is said.
    body = "プリンターが動きません。\n".encode("iso2022_jp")
    raw = b"From: taro@example.jp\nSubject: x\nContent-Transfer-Encoding: 7bit\n\n" + body

    result = understand(raw)

    assert result.email.text_body == "プリンターが動きません。\n"
    assert result.notes == (
        "read with a guess: no charset declared but escape sequences found; "
        "detected iso2022_jp in part 1",
    )
    assert understand(b"From: a@example.com\nSubject: x\n\nPlain.\n").notes == ()


def test_long_description_with_the_longest_sender_line_fits_jira() -> None:
    # Issue 19: the description leaves room for the line naming an unverified sender, and
    # that line is bounded however long the name, the address or the reason.
    text = "\n\n".join(f"Paragraph {n}: " + "détails 中文 " * 40 for n in range(400))
    name = '"Name" \\ ' * 200
    raw = f"From: {name} <{'x' * 300}@example.com>\nSubject: x\n\n{text}\n".encode()
    result = understand(raw)
    assert result.description.fitted.truncated

    written = with_author_line(
        result.description.document, result.email, None, unverified="y" * 9000
    )

    assert serialized_length(written) <= JIRA_TEXT_LIMIT


def test_is_too_long_reads_jira_length_refusals_of_the_text_only() -> None:
    too_long = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
    assert is_too_long(JiraBadRequest(400, [], {"description": too_long}))
    assert is_too_long(JiraBadRequest(400, [], {"comment": too_long}))
    assert is_too_long(JiraBadRequest(400, [], {"description": "CONTENT_LIMIT_EXCEEDED"}))
    # A custom field's own length error is not mended by shortening the description.
    assert not is_too_long(JiraBadRequest(400, [], {"customfield_10050": too_long}))
    assert not is_too_long(JiraBadRequest(400, ["Field 'priority' cannot be set."]))
