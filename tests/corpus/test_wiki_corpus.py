"""Every file of every corpus through the understanding path, then to Jira wiki markup (the
Data Center body, `connector.jira.wiki`): nothing may fail, and the markup found in the result
(read back with `tests.wiki_tokens`) must not exceed what the document itself asks for, so
none came from the mail's text.
"""

from __future__ import annotations

import pytest

from connector.jira.wiki import adf_to_wiki
from connector.mail.inbound import UnparseableEmail
from connector.pipeline.understanding import understand
from tests.corpus.test_whole_path import CORPORA, corpus_files
from tests.wiki_tokens import leaked_markup


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_corpus_mail_renders_as_wiki_markup_without_markup_from_text(corpus: str) -> None:
    files = corpus_files(corpus)
    assert files, f"{corpus} has no files"
    rendered = 0
    leaks: list[str] = []
    for path in files:
        try:
            result = understand(path.read_bytes())
        except UnparseableEmail:
            continue
        for rendering in (result.description, result.reply):
            wiki = adf_to_wiki(rendering.document)
            rendered += 1
            leaked = leaked_markup(wiki, rendering.document)
            if leaked:
                leaks.append(f"{path.name}: {dict(leaked)}")
    print(f"\n{corpus}: {rendered} documents rendered as wiki markup, {len(leaks)} with leaks")
    assert rendered > 0
    assert leaks == []
