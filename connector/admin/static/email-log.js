// The email log: newest first, filters, a detail view with headers and the decision trail,
// retry for failed messages. Everything here comes from mail: it is written as text only.

import { api, h, pageParameter, showBanner, when, wireNavigation } from "./app.js";

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

function row(entry) {
  return h("tr", { dataset: { entryId: entry.id } },
    h("td", {}, when(entry.received_at)),
    h("td", { className: "sender" }, sender(entry)),
    h("td", { className: "subject" }, entry.subject || "(no subject)"),
    h("td", {}, h("span", { className: `lozenge ${OUTCOME_LOZENGE[entry.outcome] || ""}` }, entry.outcome)),
    h("td", { className: "reason" }, entry.reason),
    h("td", {}, issueLink(entry)),
    h("td", {}, h("button", { type: "button", className: "button subtle", onclick: () => openEntry(entry.id) }, "Details")));
}

async function load(more = false) {
  const answer = await api("GET", `/email-log${query(more ? nextBeforeId : null)}`);
  if (!answer.ok) return showBanner(answer.data.error);
  const rows = answer.data.entries.map(row);
  if (more) $("log-body").append(...rows);
  else $("log-body").replaceChildren(...rows);
  nextBeforeId = answer.data.next_before_id;
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
  $("entry-retry").hidden = !entry.retryable;
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

function start() {
  wireNavigation();
  $("log-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  for (const id of ["filter-source", "filter-outcome"]) $(id).addEventListener("change", () => load());
  $("log-more").addEventListener("click", () => load(true));
  $("entry-retry").addEventListener("click", retry);
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
