"""Every file of every corpus through the whole understanding path: parse -> classify -> reply ->
ADF. Nothing may escape but `UnparseableEmail`, each file must finish within 2 seconds (a hang
guard, not a speed target: speed is in tests/benchmarks/), and every ADF document must validate
against Atlassian's schema.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path

import jsonschema
import pytest

from connector.mail.inbound import UnparseableEmail
from connector.pipeline.understanding import understand
from tests.shared import shared_path

CORPORA = ("zammad_mail", "autoreply", "malformed", "talon", "reply_parser")
HANG_GUARD_SECONDS = 2.0
DATA_FILES = {"expected.json", "labels.json"}


@cache
def adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(shared_path("specs", "adf.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def corpus_files(name: str) -> list[Path]:
    root = shared_path("corpora", name)
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix not in {".md", ".yml"} and path.name not in DATA_FILES
    )


@pytest.mark.parametrize("corpus", CORPORA)
def test_whole_path_corpus_every_file_understood_and_valid(corpus: str) -> None:
    files = corpus_files(corpus)
    assert files, f"{corpus} has no files"
    validator = adf_validator()
    unparseable: dict[str, str] = {}
    invalid: list[str] = []
    slow: list[str] = []
    slowest = 0.0
    for path in files:
        started = time.perf_counter()
        try:
            result = understand(path.read_bytes())
        except UnparseableEmail as exc:
            unparseable[path.name] = exc.reason
            continue
        finally:
            elapsed = time.perf_counter() - started
            slowest = max(slowest, elapsed)
            if elapsed > HANG_GUARD_SECONDS:
                slow.append(f"{path.name} {elapsed:.1f}s")
        for rendering in (result.description, result.reply):
            errors = list(validator.iter_errors(rendering.document))
            if errors:
                invalid.append(f"{path.name}: {errors[0].message[:120]}")
    print(
        f"\n{corpus}: {len(files)} files, {len(files) - len(unparseable)} understood, "
        f"{len(unparseable)} not an email, slowest {slowest * 1000:.0f} ms, "
        f"{len(invalid)} invalid ADF"
    )
    for name, reason in sorted(unparseable.items())[:10]:
        print(f"  not an email: {name}: {reason}")
    assert invalid == []
    assert slow == []
    # Real messages (.box, .eml) must all be understood; text and HTML bodies that some corpora
    # keep beside them as expectations are not emails and may be refused.
    refused_messages = [name for name in unparseable if name.endswith((".box", ".eml"))]
    if corpus in {"zammad_mail", "autoreply"}:
        assert refused_messages == []
