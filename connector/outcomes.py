"""Where a message of the email log stands: one word, stored as it is spelled here.

The values are the email log's `outcome` column, the admin API's filter and the keys of a
poll's counts; a `StrEnum` compares, hashes and prints as its value, so stored rows, JSON and
logs keep the plain words.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PENDING = "pending"  # not finished: never tried yet, running, or postponed for a retry
    CREATED = "created"
    COMMENTED = "commented"
    IGNORED = "ignored"  # dropped, with the reason an admin reads
    DUPLICATE = "duplicate"  # its Message-ID already made an issue
    FAILED = "failed"  # quarantined after the retries, or not an email at all

    @property
    def final(self) -> bool:
        return self is not Outcome.PENDING

    @property
    def reached_jira(self) -> bool:
        return self in (Outcome.CREATED, Outcome.COMMENTED)


FINAL_OUTCOMES = frozenset(outcome for outcome in Outcome if outcome.final)
