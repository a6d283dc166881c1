// The email log: newest first, filters, a detail view with headers and the decision trail,
// retry for failed messages. Everything here comes from mail: it is written as text only.

import {
  api, basePath, contextToken, h, pageParameter, showBanner, when, wireNavigation,
} from "./app.js";

const $ = (id) => document.getElementById(id);
let nextBeforeId = null;
let shown = null;

const OUTCOME_LOZENGE = {
  created: "ok", commented: "ok", ignored: "unknown", duplicate: "unknown", failed: "error", pending: "pending",
};

function query(beforeId) {
  const params = new URLSearchParams();
  if ($("filter-source").value) params.set("source_id", $("filter-source").value);
  if ($("filter-outcome").value) params.set("outcome", $("filter-outcome").value);
  if ($("filter-text").value.trim()) params.set("q", $("filter-text").value.trim());
  const more = { sender: "filter-sender", project_key: "filter-project", issue_key: "filter-issue", received_from: "filter-from", received_to: "filter-to" };
  for (const [name, id] of Object.entries(more)) {
    if ($(id).value.trim()) params.set(name, $(id).value.trim());
  }
  if (beforeId) params.set("before_id", beforeId);
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function loadSources() {
  const answer = await api("GET", "/mail-sources");
  if (!answer.ok) return;
  for (const source of answer.data.sources) {
    $("filter-source").append(h("option", { value: source.id }, source.name));
  }
}

function issueLink(entry) {
  if (!entry.issue_key) return "";
  return h("a", { href: entry.issue_url, target: "_top", rel: "noopener" }, entry.issue_key);
}

function sender(entry) {
  return entry.sender_name ? `${entry.sender_name} <${entry.sender}>` : entry.sender;
}

function outcomeCell(entry) {
  const cell = h("td", {}, h("span", { className: `lozenge ${OUTCOME_LOZENGE[entry.outcome] || ""}` }, entry.outcome));
  if (entry.outcome === "pending" && entry.next_attempt_at) {
    cell.append(h("div", { className: "help next-attempt" }, `next try ${when(entry.next_attempt_at)}`));
  }
  return cell;
}

function selectBox(entry) {
  if (entry.outcome !== "failed") return "";
  return h("input", {
    type: "checkbox", className: "select-entry", value: entry.id,
    "aria-label": `Select “${entry.subject || "(no subject)"}” to retry`,
    onchange: updateBulk,
  });
}

function row(entry) {
  return h("tr", { dataset: { entryId: entry.id } },
    h("td", {}, selectBox(entry)),
    h("td", {}, when(entry.received_at)),
    h("td", { className: "sender" }, sender(entry)),
    h("td", { className: "subject" }, entry.subject || "(no subject)"),
    outcomeCell(entry),
    h("td", { className: "reason" }, entry.reason),
    h("td", {}, issueLink(entry)),
    h("td", {}, h("button", { type: "button", className: "button subtle", onclick: () => openEntry(entry.id) }, "Details")));
}

function selected() {
  return [...document.querySelectorAll(".select-entry:checked")].map((box) => Number(box.value));
}

function updateBulk() {
  const boxes = document.querySelectorAll(".select-entry");
  $("bulk-actions").hidden = boxes.length === 0;
  $("retry-selected").disabled = selected().length === 0;
  $("select-failed").checked = boxes.length > 0 && selected().length === boxes.length;
}

async function retrySelected() {
  const ids = selected();
  const answer = await api("POST", "/email-log/retry", { entry_ids: ids });
  if (!answer.ok) return showBanner(answer.data.error);
  const { retried, refused } = answer.data;
  const parts = [`${retried.length} queued again; they are processed at their source's next poll.`];
  if (refused.length) parts.push(`${refused.length} could not be retried: ${refused.map((r) => r.error).join("; ")}`);
  await load();
  $("bulk-message").textContent = parts.join(" ");
}

async function load(more = false) {
  const answer = await api("GET", `/email-log${query(more ? nextBeforeId : null)}`);
  if (!answer.ok) return showBanner(answer.data.error);
  const rows = answer.data.entries.map(row);
  if (more) $("log-body").append(...rows);
  else $("log-body").replaceChildren(...rows);
  nextBeforeId = answer.data.next_before_id;
  updateBulk();
  const empty = $("log-body").children.length === 0;
  $("log-empty").hidden = !empty;
  $("log-table").hidden = empty;
  $("log-more").hidden = !nextBeforeId;
}

function fact(name, value) {
  return [h("dt", {}, name), h("dd", {}, value)];
}

async function openEntry(id) {
  const answer = await api("GET", `/email-log/${id}`);
  if (!answer.ok) return showBanner(answer.data.error);
  renderEntry(answer.data);
}

function renderEntry(entry) {
  shown = entry;
  $("entry-subject").textContent = entry.subject || "(no subject)";
  $("entry-facts").replaceChildren(
    ...fact("From", sender(entry)),
    ...fact("Source", entry.source_name || "(deleted source)"),
    ...fact("Received", when(entry.received_at)),
    ...fact("Outcome", entry.outcome),
    ...fact("Reason", entry.reason || "—"),
    ...fact("Routed", entry.route ? entry.route.reason : "—"),
    ...fact("Issue", entry.issue_key ? issueLink(entry) : "—"),
    ...fact("Attempts", String(entry.attempts)),
    ...fact("Message-ID", entry.message_id || "—"),
  );
  $("entry-trail").replaceChildren(...entry.trail.map((step) => h("li", {}, step)));
  $("entry-headers").replaceChildren(
    ...entry.headers.map((header) => h("tr", {}, h("th", {}, header.name), h("td", {}, header.value))),
  );
  // Retry is the main action only where retrying is the fix (Jira was unavailable); after a
  // refusal the cause must be fixed first, so it is offered, but as the second choice.
  const transient = entry.failure === "transient";
  $("entry-retry").hidden = !entry.retryable;
  $("entry-retry").className = transient ? "button primary" : "button";
  $("entry-retry").textContent = transient ? "Retry" : "Retry after fixing the cause";
  $("entry-retry-help").hidden = !entry.retryable || transient;
  $("entry-retry-help").textContent = "Jira refused this message or the message itself is the problem: fix what the reason says (a field, a permission, the rules), then retry.";
  if (entry.outcome === "failed" && !entry.raw_kept) {
    $("entry-retry-help").hidden = false;
    $("entry-retry-help").textContent = "The message itself is no longer kept (retention period), so it cannot be retried.";
  }
  $("entry-download").hidden = !entry.raw_kept;
  $("entry-process-anyway").hidden = !entry.can_process_anyway;
  $("entry-error").textContent = "";
  $("entry-panel").hidden = false;
  $("entry-panel").scrollIntoView({ block: "nearest" });
}

async function retry() {
  const answer = await api("POST", `/email-log/${shown.id}/retry`);
  if (!answer.ok) {
    $("entry-error").textContent = answer.data.error;
    return;
  }
  renderEntry(answer.data);
  showBanner("The message is queued again; it is processed at the source's next poll.", "success");
  await load();
}

/** An ignored message the admin knows is wanted: processed at the next poll, filters off. */
async function processAnyway() {
  const answer = await api("POST", `/email-log/${shown.id}/process-anyway`);
  if (!answer.ok) {
    $("entry-error").textContent = answer.data.error;
    return;
  }
  renderEntry(answer.data);
  showBanner("It will be processed at the source's next poll, as if it had not been filtered.", "success");
  await load();
}

/** The original message as a file: fetched with the page's Jira token, saved by the browser. */
async function download() {
  const response = await fetch(`${basePath}/api/v1/email-log/${shown.id}/message`, {
    headers: { Authorization: `JWT ${await contextToken()}` },
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    $("entry-error").textContent = data.error;
    return;
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [null, "message.eml"])[1];
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function start() {
  wireNavigation();
  $("log-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  for (const id of ["filter-source", "filter-outcome"]) $(id).addEventListener("change", () => load());
  $("log-more").addEventListener("click", () => load(true));
  $("entry-retry").addEventListener("click", retry);
  $("entry-download").addEventListener("click", download);
  $("entry-process-anyway").addEventListener("click", processAnyway);
  $("retry-selected").addEventListener("click", retrySelected);
  $("select-failed").addEventListener("change", () => {
    for (const box of document.querySelectorAll(".select-entry")) box.checked = $("select-failed").checked;
    updateBulk();
  });
  $("entry-close").addEventListener("click", () => { $("entry-panel").hidden = true; });
  loadSources().then(() => {
    // Filters another page opened the log with (the sources list's "failed messages" link).
    for (const [name, id] of [["source_id", "filter-source"], ["outcome", "filter-outcome"]]) {
      const value = pageParameter(name);
      if (value && [...$(id).options].some((option) => option.value === value)) $(id).value = value;
    }
    load();
  });
}

start();
