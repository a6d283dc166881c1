"""Jira Service Management steps around an issue created from mail (`policy.jsm_customers`).

In a service project (`projectTypeKey` service_desk) a requester is a customer: a sender with
no Jira account is made one (`POST /rest/servicedeskapi/customer`) and becomes the reporter,
so JSM's portal and notifications reach them; Cc'd people are added as request participants
(`POST /rest/servicedeskapi/request/{issueIdOrKey}/participant`), which is how JSM copies
them on the request. developer.atlassian.com/cloud/jira/service-desk/rest/api-group-customer/

These calls are extras: when Jira refuses or fails one, the step says so in the message's
trail and the mail is still delivered (reporter falls back to the source's default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connector.drafts import IssueTracker, JiraPerson, ServiceDesk
from connector.jira.errors import JiraError
from connector.mail.inbound import InboundEmail

Note = Callable[[str], None]


@dataclass(frozen=True)
class ServiceDeskSteps:
    desk: ServiceDesk
    tracker: IssueTracker

    def applies(self, project_key: str, note: Note) -> bool:
        try:
            return self.desk.is_service_project(project_key)
        except JiraError as exc:
            note(f"JSM: could not tell whether {project_key} is a service project: {exc}")
            return False

    def customer(self, email: InboundEmail, note: Note) -> JiraPerson | None:
        """The sender as a customer (found or created), or None after noting why not."""
        sender = email.sender
        if sender is None:
            return None
        try:
            customer = self.desk.customer_for(sender.address, sender.name)
        except JiraError as exc:
            note(f"JSM: the sender could not be made a customer: {exc}")
            return None
        note(f"JSM: the sender is customer {customer.account_id}")
        return customer

    def add_participants(
        self, issue_key: str, email: InboundEmail, is_ours: Callable[[str], bool], note: Note
    ) -> None:
        """Every Cc address (but ours and the sender's) as a request participant: a Jira
        user by their account, anyone else as a customer."""
        skip = set()
        if email.sender is not None:
            skip.add(email.sender.address.lower())
        account_ids: list[str] = []
        for cc in email.cc:
            if cc.address.lower() in skip or is_ours(cc.address):
                continue
            skip.add(cc.address.lower())
            try:
                person = self.tracker.find_person(cc.address)
                person = person or self.desk.customer_for(cc.address, cc.name)
            except JiraError as exc:
                note(f"JSM: a Cc address could not be made a customer: {exc}")
                continue
            account_ids.append(person.account_id)
        if not account_ids:
            return
        try:
            self.desk.add_participants(issue_key, account_ids)
        except JiraError as exc:
            note(f"JSM: request participants were not added to {issue_key}: {exc}")
            return
        note(f"JSM: {len(account_ids)} request participant(s) added to {issue_key}")
