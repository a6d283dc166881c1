"""The inbound path: one message from the mailbox to Jira, exactly once.

How a message goes (polling hands each one to `process.Pipeline.process`):

1. **Record.** Polling writes the message's email-log row (`EmailLog.begin`) before anything
   else. That row is the exactly-once ledger: every message fetched has one, and it reaches a
   final outcome (`connector.outcomes.Outcome`) once.
2. **Read.** `reading.py` parses it in a worker process within a time and memory budget
   into an `Understanding` (`understanding.py`: the email, its classification, the
   description for a new issue and the reply for a comment). Mail over the budget goes on
   with its headers and the original attached. `sender_check.py` then says whether the
   From: line is authenticated (issue 15): the DKIM keys are fetched first, the check runs
   in the same worker task as the reading (each in a task of its own when that one goes
   over its budget), and the verdict goes to the trail.
3. **Route.** `routes.py` picks the project, issue type and issue defaults from the
   recipient addresses and the source's address rules.
4. **Gather.** `gather.py` looks up the facts: the tenant's threads the message names, whether
   its Message-ID already made an issue, how much of the sender's mail reached Jira lately.
5. **Decide.** `decide.py` is the one pure function that says what becomes of the message:
   `Drop` (with the reason), `Duplicate`, `Quarantine` (unauthenticated mail from a Jira
   user's address under `reject_unverified`), `Thread` (a comment on an issue), `Create` (an
   issue in a project, as a type), or `Postpone`. Its module docstring lists the rules in
   order. `connector preview --source` and the admin route check call the same function.
6. **Deliver.** `deliver.py` creates the issue or comment in Jira, attachments and people.
7. **Finish.** `record.py` writes the ending to the row; a transient Jira failure is retried
   with backoff and quarantined as `failed` when `connector.retry.INBOUND_MAIL` gives up.

Exactly once, even across crashes: the row exists before Jira is called; the issue or
comment carries the message's digest as an entity property, set in the same call; an attempt
after an interrupted one waits for Jira's index (`decide.settling`), then finds that stamp
and records the existing issue instead of creating a second. Every step is written to the
row's trail in words an admin reads.

This package's `__init__` imports nothing, so that the pure `decide` module stays pure:
import what you need from the module itself (`connector.pipeline.process.Pipeline`).
"""
