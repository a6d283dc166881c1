// The two audit lists: every Jira event received (and what became of it), every mail sent or
// queued (and why it failed). Recipients, subjects and errors come from mail and mail servers:
// they are written as text only.

import { api, h, showBanner, when } from "./app.js";

const $ = (id) => document.getElementById(id);
const site = (document.body.dataset.site || "").replace(/\/$/, "");
const LOZENGE = {
  handled: "ok", sent: "ok", ignored: "unknown", received: "pending", working: "pending",
  queued: "pending", sending: "pending", retry: "pending", failed: "error",
};
const EVENT_NAMES = {
  comment_created: "Comment added",
  "jira:issue_updated": "Issue updated",
  "jira:issue_deleted": "Issue deleted",
};
const cursors = { events: null, messages: null };

function lozenge(status) {
  return h("span", { className: `lozenge ${LOZENGE[status] || ""}` }, status);
}

function issueLink(key) {
  if (!key) return "—";
  return h("a", { href: `${site}/browse/${encodeURIComponent(key)}`, target: "_top", rel: "noopener" }, key);
}

function eventRow(event) {
  return h("tr", { dataset: { eventId: event.id } },
    h("td", {}, when(event.received_at)),
    h("td", {}, EVENT_NAMES[event.event] || event.event),
    h("td", {}, issueLink(event.issue_key)),
    h("td", {}, lozenge(event.status)),
    h("td", { className: "reason" }, event.reason || "—"),
    h("td", { className: "number" }, String(event.attempts)));
}

function recipient(message) {
  return message.recipient_name ? `${message.recipient_name} <${message.recipient}>` : message.recipient;
}

function messageRow(message) {
  const status = h("td", {}, lozenge(message.status));
  if (message.status === "retry" && message.next_attempt_at) {
    status.append(h("div", { className: "help" }, `next try ${when(message.next_attempt_at)}`));
  }
  const action = h("td", { className: "actions" });
  if (message.status === "failed") {
    action.append(message.content_kept
      ? h("button", { type: "button", className: "button", onclick: (e) => retry(message, e.currentTarget) }, "Retry")
      : h("span", { className: "help" }, "Content purged: cannot be sent again"));
  }
  action.append(h("div", { className: "row-message" }));
  return h("tr", { dataset: { messageId: message.id } },
    h("td", {}, when(message.created_at)),
    h("td", { className: "sender" }, recipient(message), h("div", { className: "help" }, message.kind)),
    h("td", { className: "subject" }, message.subject || "(no subject)"),
    h("td", {}, issueLink(message.issue_key)),
    status,
    h("td", { className: "reason" }, message.error || ""),
    action);
}

async function retry(message, button) {
  button.disabled = true;
  const answer = await api("POST", `/outbound-messages/${message.id}/retry`);
  const note = button.parentElement.querySelector(".row-message");
  if (!answer.ok) {
    button.disabled = false;
    note.textContent = answer.data.error;
    note.className = "row-message error";
    return;
  }
  button.closest("tr").replaceWith(messageRow(answer.data));
  showBanner(`The mail to ${answer.data.recipient} is queued again.`, "success");
}

/** One paged, filtered list: `kind` is "events" or "messages", as the element ids spell it. */
async function load(kind, more = false) {
  const params = new URLSearchParams();
  const status = $(`${kind}-status`).value;
  if (status) params.set("status", status);
  if (more && cursors[kind]) params.set("before_id", cursors[kind]);
  const path = kind === "events" ? "/webhook-events" : "/outbound-messages";
  const query = params.toString();
  const answer = await api("GET", `${path}${query ? `?${query}` : ""}`);
  if (!answer.ok) return showBanner(answer.data.error);
  const rows = kind === "events" ? answer.data.events.map(eventRow) : answer.data.messages.map(messageRow);
  if (more) $(`${kind}-body`).append(...rows);
  else $(`${kind}-body`).replaceChildren(...rows);
  cursors[kind] = answer.data.next_before_id;
  const empty = $(`${kind}-body`).children.length === 0;
  $(`${kind}-empty`).hidden = !empty;
  $(`${kind}-table`).hidden = empty;
  $(`${kind}-more`).hidden = !cursors[kind];
}

export function startAudit() {
  for (const kind of ["events", "messages"]) {
    $(`${kind}-status`).addEventListener("change", () => load(kind));
    $(`${kind}-more`).addEventListener("click", () => load(kind, true));
  }
  return Promise.all([load("events"), load("messages")]);
}
