"""Reply extraction: quoted history and signatures go, what the sender wrote stays."""

from __future__ import annotations

import pytest

from connector.mail.reply import (
    ReplyHtml,
    ReplyText,
    extract_reply_html,
    extract_reply_text,
)
from connector.mail.reply_plan import MAX_PLANNED_LINES

NEW = "Thank you, that fixed it."


def _reply(attribution: str, quoted: str = "> the old message") -> str:
    return f"{NEW}\n\n{attribution}\n{quoted}\n"


# -- plain text: attributions ------------------------------------------------------------------

# The look-alike characters (Cyrillic, full-width punctuation) are what these clients write.
ATTRIBUTIONS = {
    "english": "On Tue, Mar 1, 2011 at 6:02 PM, Bob Example <bob@example.com> wrote:",
    "german": "Am 25.06.2015 um 10:55 schrieb Max Mustermann <max@example.de>:",
    "french": "Le 19 mars 2014 à 10:37, Cédric Lombard <cedric@example.fr> a écrit :",
    "spanish": "El 19/03/2014 11:34, Juan Pérez <juan@example.es> escribió:",
    "italian": "Il giorno 8 dic 2016, alle ore 10:35, Anna Rossi <anna@example.it> ha scritto:",
    "dutch": "Op 12 december 2016 19:05 schreef Jan Jansen <jan@example.nl>:",
    "portuguese": "Em 10 de julho de 2017 às 16:32, João Silva <joao@example.pt> escreveu:",
    "swedish": "Den 8 juni 2015 kl. 21:21 skrev Sven Svensson <sven@example.se>:",
    "danish": "Den 08/06/2015 kl. 21.21 skrev Mette Hansen <mette@example.dk>:",
    "norwegian": "tir. 18. apr. 2017 kl. 13:09 skrev Ola Nordmann <ola@example.no>:",
    "polish": "W dniu 2015-01-07 14:23, Paweł Nowak <pawel@example.pl> pisze:",
    "russian": "7 января 2015 г., 14:23 пользователь Иван <ivan@example.ru> написал(а):",  # noqa: RUF001
    "japanese": "2016/11/08 14:26、山田太郎 <yamada@example.jp> のメッセージ:",
    "japanese_date_first": "2016年11月8日(火) 14:26 山田太郎 <yamada@example.jp>:",
    "chinese": "在 2016年11月8日，下午2:23，王伟 <wang@example.cn> 写道：",  # noqa: RUF001
}


@pytest.mark.parametrize("attribution", ATTRIBUTIONS.values(), ids=list(ATTRIBUTIONS))
def test_extract_reply_text_attribution_in_language_removes_history(attribution: str) -> None:
    result = extract_reply_text(_reply(attribution))

    assert result.text == NEW
    assert result.quote_found
    assert not result.kept_whole


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tue, Mar 1, 2011 at 6:02 PM, A Rather Long Display Name <\nbob@example.com> wrote:",
        "On Tue, Mar 1, 2011 at 6:02 PM, Bob Example <bob@example.com>\nwrote:",
        "Am 25.06.2015 um 10:55 schrieb Max Mustermann\n<max@example.de>:",
        "Le lun. 15 nov. 2021 à 19:42, Jean Dupont <jean@example.fr>\na écrit :",
    ],
    ids=["address-wrapped", "verb-wrapped", "german", "french"],
)
def test_extract_reply_text_wrapped_attribution_removes_all_its_lines(attribution: str) -> None:
    # Followed by unquoted text, so the attribution alone decides where history starts.
    result = extract_reply_text(f"{NEW}\n\n{attribution}\n\nthe old message")

    assert result.text == NEW


def test_extract_reply_text_attribution_sharing_the_reply_line_keeps_the_reply() -> None:
    text = "Sure thing On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:\n> Can you?"

    assert extract_reply_text(text).text == "Sure thing"


def test_extract_reply_text_line_starting_with_on_is_not_an_attribution() -> None:
    text = "On Monday I am out of the office.\nOn Tuesday I am back, see you then."

    result = extract_reply_text(text)

    assert result.text == text
    assert not result.quote_found


@pytest.mark.parametrize(
    "line",
    [
        "My order 12345 placed on 2024-01-05 10:30 by john@example.com:",
        "Le client 123 a écrit :",
        "Ticket 4711 was closed by the agent, who wrote:",
    ],
)
def test_extract_reply_text_prose_line_like_an_attribution_is_kept(line: str) -> None:
    text = f"Hello,\n{line}\nthe item arrived broken."

    assert extract_reply_text(text).text == text


def test_extract_reply_text_prose_ending_with_wrote_is_kept() -> None:
    text = "This is what the customer wrote:\nThe printer is on fire."

    assert extract_reply_text(text).text == text


# -- plain text: header blocks, banners, rules -------------------------------------------------


def test_extract_reply_text_german_outlook_header_block_removes_history() -> None:
    text = (
        f"{NEW}\n\nVon: Max Mustermann <max@example.de>\n"
        "Gesendet: Donnerstag, 23. März 2023 17:11\nAn: Support <support@example.com>\n"
        "Betreff: AW: Drucker\n\nDer Drucker brennt."
    )

    result = extract_reply_text(text)

    assert result.text == NEW
    assert result.quote_found


def test_extract_reply_text_french_outlook_header_block_removes_history() -> None:
    text = (
        f"{NEW}\n\nDe : Jean <jean@example.fr>\nEnvoyé : vendredi 23 janvier 2015 16:39\n"
        "À : Support\nObjet : Imprimante\n\nL'imprimante est en feu."
    )

    assert extract_reply_text(text).text == NEW


def test_extract_reply_text_single_header_field_is_not_a_header_block() -> None:
    text = "Invitation:\n\nDate: Wednesday 3, October 2011\nTime: 7:00am\nAddress: 130 Fox St"

    assert extract_reply_text(text).text == text


def test_extract_reply_text_from_and_to_without_date_or_subject_are_kept() -> None:
    text = "Availability:\nFrom: Monday 9am\nTo: Friday 5pm\n\nThanks"

    assert extract_reply_text(text).text == text


def test_extract_reply_text_address_and_ip_line_is_not_an_attribution() -> None:
    # An IP address is not a date: this bounce line must not start the history.
    text = (
        "Delivery failed:\n\n<nobody@example.com>: host mx.example.com[108.177.96.26] said:\n"
        "550 5.1.1 The account does not exist"
    )

    assert extract_reply_text(text).text == text


def test_extract_reply_text_banner_between_arrows_is_not_a_quote() -> None:
    text = "> Offer of the day: half price <\nBuy now."

    result = extract_reply_text(text)

    assert result.text == text
    assert not result.quote_found


@pytest.mark.parametrize(
    "banner",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "----- Original Nachricht ----",
        "____________________",
    ],
)
def test_extract_reply_text_outlook_banner_removes_history(banner: str) -> None:
    text = f"{NEW}\n\n{banner}\nFrom: Bob\nOld text"

    assert extract_reply_text(text).text == NEW


# -- plain text: signatures --------------------------------------------------------------------


def test_extract_reply_text_rfc3676_delimiter_removes_signature() -> None:
    result = extract_reply_text(f"{NEW}\n\n-- \nBob Example\nACME Corp, +1 555 0100")

    assert result.text == NEW
    assert result.signature_found
    assert not result.quote_found


@pytest.mark.parametrize(
    "line",
    [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPad",
        "Enviado desde mi teléfono Samsung",
    ],
)
def test_extract_reply_text_mobile_signature_is_removed(line: str) -> None:
    result = extract_reply_text(f"{NEW}\n\n{line}\n")

    assert result.text == NEW
    assert result.signature_found


def test_extract_reply_text_sentence_starting_sent_from_my_is_kept() -> None:
    text = f"{NEW}\n\nSent from my desk, which is much easier than my phone."

    result = extract_reply_text(text)

    assert result.text == text
    assert not result.signature_found


def test_extract_reply_text_mobile_signature_above_history_reports_both() -> None:
    result = extract_reply_text(f"{NEW}\n\nSent from my iPhone\n\n> old")

    assert result.text == NEW
    assert result.signature_found and result.quote_found


def test_extract_reply_text_dash_signoff_is_removed() -> None:
    result = extract_reply_text(f"{NEW}\n\n-Abhishek Kona")

    assert result.text == NEW
    assert result.signature_found


def test_extract_reply_text_dash_item_ending_a_list_is_kept() -> None:
    text = "To buy:\n- Apples\n-Oranges"

    assert extract_reply_text(text).text == text


def test_extract_reply_text_closing_words_are_kept() -> None:
    text = f"{NEW}\n\nRegards,\nRoman"

    assert extract_reply_text(text).text == text


# -- plain text: forwards, nothing left, inline replies ----------------------------------------

FORWARD = (
    "---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\n"
    "Date: Tue, Sep 4, 2012 at 1:35 PM\nSubject: Printer\nTo: rob@example.com\n\n"
    "The printer is on fire."
)


@pytest.mark.parametrize(
    "banner",
    [
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "-------- Weitergeleitete Nachricht --------",
        "-------- Message transféré --------",
    ],
)
def test_extract_reply_text_whole_mail_forward_is_kept(banner: str) -> None:
    text = FORWARD.replace("---------- Forwarded message ---------", banner)

    result = extract_reply_text(text)

    assert result.text == text
    assert result.forward_kept
    assert not result.quote_found


def test_extract_reply_text_forward_with_short_note_is_kept() -> None:
    text = f"FYI, see below.\n\n{FORWARD}"

    result = extract_reply_text(text)

    assert result.text == text
    assert result.forward_kept


def test_extract_reply_text_outlook_forward_header_block_is_kept() -> None:
    text = (
        "________________________________\nFrom: Bob\nSent: Monday, 1 January 2024 10:00\n"
        "To: Support\nSubject: FW: Printer\n\nThe printer is on fire."
    )

    result = extract_reply_text(text)

    assert result.text == text
    assert result.forward_kept


def test_extract_reply_text_forward_below_long_text_is_removed() -> None:
    note = "\n".join(
        f"Line {number} of a long explanation of what happened." for number in range(5)
    )

    result = extract_reply_text(f"{note}\n\n{FORWARD}")

    assert result.text == note
    assert not result.forward_kept


def test_extract_reply_text_nothing_left_keeps_whole_text() -> None:
    text = "> Everything here is quoted\n> and nothing is new"

    result = extract_reply_text(text)

    assert result.text == text
    assert result.kept_whole
    assert result.quote_found


def test_extract_reply_text_signature_only_keeps_whole_text() -> None:
    result = extract_reply_text("--\nRoman")

    assert result.text == "--\nRoman"
    assert result.kept_whole


def test_extract_reply_text_inline_reply_keeps_new_lines() -> None:
    text = (
        "Hi,\n\nOn Tue, Mar 1, 2011 at 6:02 PM, Bob <bob@example.com> wrote:\n"
        "> Does it print?\n\nYes, since this morning.\n\n> And scan?\n\nNot yet.\n\n> Bob\n"
    )

    assert extract_reply_text(text).text == "Hi,\n\nYes, since this morning.\n\nNot yet."


def test_extract_reply_text_reply_below_quote_is_kept() -> None:
    text = "On 04/19/2011 07:10 AM, Roman wrote:\n\n> Test\nTest reply"

    assert extract_reply_text(text).text == "Test reply"


def test_extract_reply_text_lone_arrow_line_between_paragraphs_is_kept() -> None:
    text = "Visit us now...\n>>> >>>  http://www.example.com <<<\nVisit our site above"

    assert extract_reply_text(text).text == text


def test_extract_reply_text_quote_lines_wrapped_by_client_are_removed() -> None:
    text = (
        f"{NEW}\n\nOp 12 december 2016 19:05 schreef Jan <\njan@example.nl>:\n\n"
        "> In efficitur augue ac tristique ullamcorper. Aenean tincidunt ornare diam,\n"
        "eget accumsan est viverra quis.\n>\n"
    )

    assert extract_reply_text(text).text == NEW


def test_extract_reply_text_crlf_line_endings_are_handled() -> None:
    text = f"{NEW}\r\n\r\nOn Tue, Mar 1, 2011 at 6:02 PM, Bob <bob@example.com> wrote:\r\n> old"

    assert extract_reply_text(text).text == NEW


def test_extract_reply_text_empty_body_is_empty() -> None:
    assert extract_reply_text("") == ReplyText("", False, False, True, False)


# -- HTML ---------------------------------------------------------------------------------------


def test_extract_reply_html_gmail_quote_and_signature_are_removed() -> None:
    html = (
        '<div dir="ltr">Thanks, fixed.<div class="gmail_signature">Bob<br>ACME</div></div>'
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Jan 1, 2024 at 10:00 AM '
        'Ann &lt;ann@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">'
        "<div>Old question</div></blockquote></div>"
    )

    result = extract_reply_html(html)

    assert result.html == '<div dir="ltr">Thanks, fixed.</div>'
    assert result.quote_found and result.signature_found


def test_extract_reply_html_outlook_reply_header_removes_history() -> None:
    html = (
        '<html><body><div>New answer</div><div id="appendonsend"></div><hr>'
        '<div id="divRplyFwdMsg"><b>From:</b> Ann<br><b>Sent:</b> Monday<br>'
        "<b>Subject:</b> Q</div><div>Old question</div></body></html>"
    )

    result = extract_reply_html(html)

    assert result.html == "<html><head></head><body><div>New answer</div></body></html>"
    assert result.quote_found


@pytest.mark.parametrize(
    "container",
    [
        '<div class="OutlookMessageHeader">',
        '<div id="mail-editor-reference-message-container">',
        '<span id="OLK_SRC_BODY_SECTION">',
    ],
)
def test_extract_reply_html_outlook_history_container_is_removed(container: str) -> None:
    tag = container[1 : container.index(" ")]
    html = f"<div>New answer</div>{container}<div>From: Ann</div><div>Old</div></{tag}>"

    result = extract_reply_html(html)

    assert result.html == "<div>New answer</div>"
    assert result.quote_found


def test_extract_reply_html_outlook_border_separator_in_german_removes_history() -> None:
    html = (
        "<p>Neue Antwort</p>"
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        "<p><b>Von:</b> Ann<br><b>Gesendet:</b> Montag, 5. Dezember 2016 17:00<br>"
        "<b>An:</b> Bob<br><b>Betreff:</b> Frage</p></div><p>Alte Frage</p>"
    )

    assert extract_reply_html(html).html == "<p>Neue Antwort</p>"


def test_extract_reply_html_outlook_forward_with_short_note_is_kept() -> None:
    html = (
        '<div>FYI</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
        "<b>From:</b> Ann<br><b>Sent:</b> Monday<br><b>To:</b> Bob<br>"
        "<b>Subject:</b> FW: Printer</div><div>The printer is on fire.</div>"
    )

    result = extract_reply_html(html)

    assert result.html == html
    assert result.forward_kept


def test_extract_reply_html_lotus_notes_header_table_removes_history() -> None:
    html = (
        "<div>Absage für morgen.</div><table>"
        "<tr><td>Von:</td><td>Ann &lt;ann@example.com&gt;</td></tr>"
        "<tr><td>An</td><td>bob@example.com</td></tr>"
        "<tr><td>Datum:</td><td>Mi., 13.06.2012 14:30</td></tr>"
        "<tr><td>Betreff</td><td>Installation</td></tr></table><pre>Alte Nachricht</pre>"
    )

    assert extract_reply_html(html).html == "<div>Absage für morgen.</div>"


def test_extract_reply_html_outlook_web_signature_is_removed() -> None:
    html = '<div>Done.</div><div id="Signature"><div>Ann Example</div><div>ACME</div></div>'

    result = extract_reply_html(html)

    assert result.html == "<div>Done.</div>"
    assert result.signature_found


def test_extract_reply_html_bare_blockquote_before_signature_is_history() -> None:
    html = (
        '<div>Agreed.</div><blockquote>the old text</blockquote><div class="gmail_signature">'
        "Ann</div>"
    )

    assert extract_reply_html(html).html == "<div>Agreed.</div>"


def test_extract_reply_html_table_cells_are_separate_words() -> None:
    # Without a space between the cells "ThanksOn Mon..." would hide the attribution.
    html = (
        "<table><tr><td>Thanks</td><td>On Mon, Jan 1, 2024 at 10:00 AM, Ann "
        "&lt;ann@example.com&gt; wrote:</td></tr></table><div>old</div>"
    )

    assert extract_reply_html(html).html == "<table><tr><td>Thanks</td></tr></table>"


def test_extract_reply_html_apple_mail_cite_is_removed() -> None:
    html = (
        '<div>Sounds good.</div><div><br><blockquote type="cite"><div>On 5 Jan 2024, at '
        "10:00, Ann &lt;ann@example.com&gt; wrote:</div><br><div>Old</div></blockquote></div>"
    )

    assert extract_reply_html(html).html == "<div>Sounds good.</div>"


def test_extract_reply_html_thunderbird_cite_and_signature_are_removed() -> None:
    html = (
        '<p>Yes.</p><pre class="moz-signature">-- \nBob</pre>'
        '<div class="moz-cite-prefix">On 26.06.2014 14:41, Ann wrote:<br></div>'
        '<blockquote type="cite" cite="mid:x@example.com">Old</blockquote>'
    )

    result = extract_reply_html(html)

    assert result.html == "<p>Yes.</p>"
    assert result.quote_found and result.signature_found


def test_extract_reply_html_yahoo_quote_is_removed() -> None:
    html = '<div>Reply here</div><div class="yahoo_quoted"><div>Ann wrote:</div>Old</div>'

    assert extract_reply_html(html).html == "<div>Reply here</div>"


def test_extract_reply_html_blockquote_after_attribution_is_removed() -> None:
    html = (
        "<p>Reply</p><p>On Mon, Jan 1, 2024 at 10:00 AM, Ann &lt;ann@example.com&gt; wrote:</p>"
        "<blockquote>Old</blockquote>"
    )

    assert extract_reply_html(html).html == "<p>Reply</p>"


def test_extract_reply_html_text_banner_removes_history() -> None:
    html = "<div>Reply</div><div>-----Original Message-----</div><div>From: Ann</div><div>Old</div>"

    assert extract_reply_html(html).html == "<div>Reply</div>"


def test_extract_reply_html_inline_reply_keeps_new_text() -> None:
    html = (
        '<div>Hi,</div><blockquote type="cite">Question one?</blockquote><div>Answer one.</div>'
        '<blockquote type="cite">Question two?</blockquote><div>Answer two.</div>'
    )

    assert (
        extract_reply_html(html).html
        == "<div>Hi,</div><div>Answer one.</div><div>Answer two.</div>"
    )


def test_extract_reply_html_indentation_blockquote_is_kept() -> None:
    html = (
        '<div>Reply</div><blockquote style="margin:0 0 0 40px;border:none;padding:0px">'
        "<div>indented</div></blockquote>"
    )

    result = extract_reply_html(html)

    assert result.html == html
    assert not result.quote_found


def test_extract_reply_html_image_in_reply_is_kept() -> None:
    html = (
        '<div>See the picture <img src="cid:shot"></div><div>On Mon, Jan 1, 2024 at 10:00 AM, '
        "Ann &lt;ann@example.com&gt; wrote:</div><div>old</div>"
    )

    assert extract_reply_html(html).html == '<div>See the picture <img src="cid:shot"></div>'


def test_extract_reply_html_gmail_forward_is_kept() -> None:
    html = (
        '<div dir="ltr"><br><div class="gmail_quote">---------- Forwarded message ---------<br>'
        "From: Bob<br>Date: Fri, Feb 11, 2010 at 5:59 PM<br>Subject: x<br>To: Mary<br><br>"
        "<div>eom</div></div></div>"
    )

    result = extract_reply_html(html)

    assert result.html == html
    assert result.forward_kept


def test_extract_reply_html_nothing_left_returns_input_unchanged() -> None:
    html = '<blockquote type="cite">Everything is old</blockquote>'

    assert extract_reply_html(html) == ReplyHtml(html, True, False, True, False)


@pytest.mark.parametrize("html", ["", "   ", "<html></html>", "\x00\x01"])
def test_extract_reply_html_empty_document_is_kept_whole(html: str) -> None:
    result = extract_reply_html(html)

    assert result.html == html
    assert result.kept_whole


def test_extract_reply_html_xml_declaration_is_accepted() -> None:
    html = (
        '<?xml version="1.0" encoding="UTF-8"?><html><body><div>Hi</div>'
        '<hr id="stopSpelling">Date: today<br>From: x<br>Old</body></html>'
    )

    assert extract_reply_html(html).html == "<html><head></head><body><div>Hi</div></body></html>"


def test_extract_reply_html_doctype_is_preserved() -> None:
    html = '<!DOCTYPE html><html><body><p>Hi</p><div id="divRplyFwdMsg">From: x</div></body></html>'

    assert extract_reply_html(html).html.startswith("<!DOCTYPE html>\n<html>")


# -- speed ----------------------------------------------------------------------------------------


def _megabyte(chunk: str) -> str:
    return chunk * (1_000_000 // len(chunk))


# A hang guard, not a speed target (speed is measured in tests/benchmarks/): a regex that
# backtracks catastrophically on a megabyte would run for minutes and hit this timeout.
@pytest.mark.timeout(20)
def test_extract_reply_text_one_megabyte_finishes_and_keeps_new_text() -> None:
    chunk = (
        "A line of the reply with a time 12:30 and an address <a@example.com>:\n"
        "> a quoted line\nOn Mon, Jan 1, 2024 at 10:00 AM, X <x@example.com> wrote:\n"
        "From: someone\n\n"
    )
    result = extract_reply_text(_megabyte(chunk))
    tiny_lines = extract_reply_text(_megabyte(":\n"))  # a million tiny lines

    assert result.text.startswith("A line of the reply")
    assert result.quote_found
    assert tiny_lines.text


@pytest.mark.timeout(20)
def test_extract_reply_html_one_megabyte_finishes_and_drops_quotes() -> None:
    chunk = (
        '<p>Hello <b>world</b> at 12:30 <a href="https://example.com">link</a></p>'
        '<blockquote type="cite">quoted<br>more</blockquote>\n'
    )
    result = extract_reply_html(_megabyte(chunk))

    assert "Hello" in result.html
    assert result.quote_found


def test_extract_reply_text_history_below_the_line_cap_goes_with_a_cut_above() -> None:
    text = f"{NEW}\n\n-----Original Message-----\n" + "old line\n" * (MAX_PLANNED_LINES + 10)

    assert extract_reply_text(text).text == NEW


def test_extract_reply_text_text_below_the_line_cap_is_kept_without_a_cut() -> None:
    text = "new line\n" * (MAX_PLANNED_LINES + 10) + "> late quote"

    assert extract_reply_text(text).text == text.rstrip()


def test_extract_reply_text_line_ending_in_a_number_above_an_attribution_is_kept() -> None:
    # Issue 19 lets "schrieb am Fr., 28." wrap; a sentence ending in a number stays.
    text = (
        "On Monday we moved to floor 2.\n2014-03-20 8:48 GMT+01:00 John <j@example.com>:\n> old\n"
    )

    assert extract_reply_text(text).text == "On Monday we moved to floor 2."


def test_extract_reply_text_pipe_table_without_attribution_is_kept() -> None:
    text = "Figures:\n\n| month | tickets |\n| May | 12 |\n"

    assert extract_reply_text(text).text == text.rstrip()
