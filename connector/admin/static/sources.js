// The mail sources list: status at a glance, search, and every action on a source.

import {
  api, clearErrors, h, navigate, renderDiagnosis, showBanner, showError, statusLozenge, timeZone,
  when, wireNavigation,
} from "./app.js";
import { readAddressRules, renderAddressRules } from "./address-rules.js";
import { closePreview, openPreview, wirePreview } from "./mail-preview.js";
import { readSourceForm, renderSourceForm } from "./source-form.js";

const $ = (id) => document.getElementById(id);
let sources = [];
let editing = null;
let enabling = null;
let deleting = null;
let searchTimer = null;
// Polls an admin started here: followed until they end, then their result is said on the row.
const watched = new Set();
let followTimer = null;
const FOLLOW_MS = 1000;

async function load() {
  const q = $("source-search").value.trim();
  const params = new URLSearchParams({ tz: await timeZone() });
  if (q) params.set("q", q);
  const answer = await api("GET", `/mail-sources?${params}`);
  if (!answer.ok) return showBanner(answer.data.error);
  sources = answer.data.sources;
  showJiraPause(answer.data.jira_paused);
  render(q);
  reportWatched();
  follow();
}

/** A poll asked for and not started, or running: the list follows it. */
function busy(source) {
  return Boolean(source.poll) && source.poll.state !== "idle";
}

/** A poll that has ended with mail it fetched still queued for delivery (PostgreSQL). */
function delivering(source) {
  return Boolean(source.poll) && source.poll.state === "idle" && source.poll.ok !== false
    && source.poll.queued > 0;
}

function progressText(poll) {
  if (poll.state === "requested") return "Poll requested; starting…";
  return `Polling: ${poll.fetched} fetched, ${poll.processed} processed, ${poll.failed} failed so far.`;
}

function countsText(poll) {
  const counts = Object.entries(poll.counts).map(([outcome, n]) => `${n} ${outcome}`);
  if (poll.queued) counts.push(`${poll.queued} queued for delivery`);
  return counts.join(", ");
}

function resultText(poll) {
  if (poll.ok === false) return poll.message;
  return `Polled: ${countsText(poll) || "no new mail"}.`;
}

/** The rows of polls started here: progress while they run, the result once they end (and
 * their mail is delivered: until then, what it came to so far). */
function reportWatched() {
  for (const id of [...watched]) {
    const source = sources.find((s) => s.id === id);
    if (!source || !source.poll) {
      watched.delete(id);
      continue;
    }
    if (busy(source)) {
      rowMessage(source, progressText(source.poll), "info");
      continue;
    }
    if (delivering(source)) {
      rowMessage(source, `${resultText(source.poll)} Delivering…`, "info");
      continue;
    }
    watched.delete(id);
    const kind = source.poll.ok === false ? "error" : source.poll.failed ? "warning" : "success";
    rowMessage(source, resultText(source.poll), kind);
  }
}

/** Reload while any poll is asked for or running, mine or the worker's, or the mail of one
 * started here is being delivered. */
function follow() {
  clearTimeout(followTimer);
  const mine = (s) => watched.has(s.id) && delivering(s);
  if (sources.some((s) => busy(s) || mine(s))) followTimer = setTimeout(load, FOLLOW_MS);
}

/** Open the email log on this source's failed messages. */
function showFailed(source) {
  navigate("email-log", { source_id: String(source.id), outcome: "failed" });
}

// Jira's rate limits: while it asked us to wait, say until when (mail is kept until then).
function showJiraPause(paused) {
  const line = $("jira-paused");
  line.hidden = !paused;
  line.textContent = paused ? `${paused.message}; mail is kept and sent to Jira then.` : "";
}

/** OK with failed messages in the last poll is not OK: a warning, and a way to them. */
function lastPollFailed(source) {
  const poll = source.poll;
  return source.status === "ok" && poll && poll.state === "idle" && poll.failed > 0 ? poll.failed : 0;
}

function statusCell(source) {
  const failed = lastPollFailed(source);
  const cell = h("td", { className: "status" }, statusLozenge(failed ? "warning" : source.status));
  if (source.status === "error" && source.status_message) {
    cell.append(h("div", { className: "status-message" }, source.status_message));
  }
  if (busy(source)) cell.append(h("div", { className: "help poll-progress" }, progressText(source.poll)));
  if (delivering(source)) {
    const queued = source.poll.queued;
    cell.append(h("div", { className: "help poll-progress" },
      `${queued} message${queued === 1 ? "" : "s"} of the last poll queued for delivery.`));
  }
  if (failed) {
    cell.append(h("div", { className: "status-message" },
      `The last poll could not process ${failed} message${failed === 1 ? "" : "s"}.`));
  }
  const total = source.failed_messages;
  if (total) {
    cell.append(h("div", { className: "help" },
      h("a", { href: "#", className: "failed-link", onclick: (event) => { event.preventDefault(); showFailed(source); } },
        `${total} failed message${total === 1 ? "" : "s"} in the email log`)));
  }
  for (const warning of source.warnings || []) cell.append(h("div", { className: "help" }, warning));
  if (source.enabled && source.receives) {
    cell.append(h("div", { className: "help receives" }, `How mail arrives: ${source.receives}`));
  }
  return cell;
}

/** "+ 2 address rules" under the source's own project, when mail may go elsewhere too. */
function routingNote(source) {
  const rules = (source.address_rules || []).length;
  const plus = (source.plus_projects || []).length;
  const parts = [];
  if (rules) parts.push(`${rules} address rule${rules === 1 ? "" : "s"}`);
  if (plus) parts.push(`plus addresses for ${source.plus_projects.join(", ")}`);
  return parts.length ? h("div", { className: "help" }, `+ ${parts.join(", ")}`) : null;
}

function actionButton(label, handler, className = "button") {
  return h("button", { type: "button", className, onclick: handler }, label);
}

function render(q) {
  $("sources-empty").hidden = sources.length > 0 || Boolean(q);
  $("sources-table").hidden = sources.length === 0 && !q;
  const rows = sources.map((source) => {
    const actions = h("td", { className: "actions" },
      actionButton("Edit", () => openEdit(source)),
      source.enabled
        ? actionButton("Disable", () => disable(source))
        : actionButton("Enable", () => openEnable(source)),
      source.enabled ? pollButton(source) : null,
      actionButton("Try a message", () => { closePanels(); openPreview(source); }),
      actionButton("Delete", () => openDelete(source), "button subtle"),
      h("div", { className: "row-message", dataset: { rowMessageFor: source.id } }));
    return h("tr", { dataset: { sourceId: source.id } },
      h("td", {}, h("strong", {}, source.name), source.description ? h("div", { className: "help" }, source.description) : null),
      h("td", {}, `${source.username} @ ${source.host}`, h("div", { className: "help" }, `${source.protocol.toUpperCase()} · ${source.folder}`)),
      h("td", {}, `${source.project_key} · ${source.issue_type}`, routingNote(source)),
      statusCell(source),
      h("td", {}, when(source.last_poll_at)),
      h("td", {}, source.enabled ? when(source.next_poll_at, "soon") : "—"),
      h("td", { className: "number" }, String(source.messages_today)),
      actions);
  });
  if (q && sources.length === 0) {
    rows.push(h("tr", {}, h("td", { colspan: 8, className: "empty" }, `No mail source matches “${q}”.`)));
  }
  $("sources-body").replaceChildren(...rows);
}

function rowMessage(source, message, kind = "error") {
  const slot = document.querySelector(`[data-row-message-for="${source.id}"]`);
  if (slot) {
    slot.textContent = message;
    slot.className = `row-message ${kind}`;
  }
}

function closePanels() {
  for (const id of ["edit-panel", "enable-panel", "delete-panel"]) $(id).hidden = true;
  closePreview();
  editing = enabling = deleting = null;
}

// --- edit ----------------------------------------------------------------------------------

function openEdit(source) {
  closePanels();
  editing = source;
  $("edit-name").textContent = source.name;
  renderSourceForm($("edit-fields"), source, { withProject: true });
  renderAddressRules($("edit-routing"), source);
  clearErrors($("edit-form"));
  $("edit-diagnosis").hidden = true;
  $("edit-panel").hidden = false;
  $("edit-panel").scrollIntoView({ block: "nearest" });
}

async function saveEdit(event) {
  event.preventDefault();
  const form = $("edit-form");
  clearErrors(form);
  const body = { ...readSourceForm($("edit-fields"), editing), ...readAddressRules($("edit-routing")) };
  const answer = await api("PUT", `/mail-sources/${editing.id}`, body);
  if (!answer.ok) return showError(form, answer.data);
  closePanels();
  showBanner(`Saved ${answer.data.name}.`, "success");
  await load();
}

async function testEdit() {
  const form = $("edit-form");
  clearErrors(form);
  const answer = await api("POST", `/mail-sources/${editing.id}/test`, readSourceForm($("edit-fields"), editing));
  if (!answer.ok) return showError(form, answer.data);
  renderDiagnosis($("edit-diagnosis"), answer.data);
}

// --- enable, disable, poll -----------------------------------------------------------------

function openEnable(source) {
  closePanels();
  enabling = source;
  $("enable-name").textContent = source.name;
  $("enable-estimate").textContent = "Connecting to the mailbox to see how much mail is waiting…";
  $("enable-acknowledge").checked = false;
  $("enable-acknowledge").closest("label").hidden = true;
  $("enable-skip").hidden = true;
  $("enable-error").textContent = "";
  $("enable-panel").hidden = false;
  enable({});
}

/** Enabling needs the box ticked once the answer says the backlog is over the threshold. */
function acknowledgeNeeded() {
  return !$("enable-acknowledge").closest("label").hidden;
}

function updateEnableButton() {
  $("enable-confirm").disabled = acknowledgeNeeded() && !$("enable-acknowledge").checked;
}

async function enable(options) {
  const source = enabling;
  $("enable-error").textContent = "";
  $("enable-confirm").disabled = true;
  $("enable-skip").disabled = true;
  const answer = await api("POST", `/mail-sources/${source.id}/enable`, options);
  $("enable-skip").disabled = false;
  if (answer.status === 409 && answer.data.estimate) {
    const estimate = answer.data.estimate;
    const count = `${estimate.messages}${estimate.more ? "+" : ""}`;
    $("enable-estimate").textContent =
      `${count} messages arrived while it was off, more than ${estimate.acknowledge_above}: ` +
      "each would become an issue or a comment now.";
    $("enable-acknowledge").closest("label").hidden = false;
    $("enable-skip").hidden = false;
    updateEnableButton();
    return;
  }
  updateEnableButton();
  if (!answer.ok) {
    $("enable-estimate").textContent = "";
    $("enable-error").textContent = answer.data.error;
    return;
  }
  const count = answer.data.estimate.messages;
  const more = answer.data.estimate.more ? "+" : "";
  closePanels();
  showBanner(`Enabled ${source.name}${count ? `: ${count}${more} waiting message${count === 1 ? "" : "s"} will be processed` : ""}.`, "success");
  await load();
}

function confirmEnable() {
  if (acknowledgeNeeded() && !$("enable-acknowledge").checked) {
    $("enable-error").textContent = "Tick the box to confirm these messages may be processed.";
    return;
  }
  enable(acknowledgeNeeded() ? { acknowledge: true } : {});
}

async function disable(source) {
  const answer = await api("POST", `/mail-sources/${source.id}/disable`);
  if (!answer.ok) return rowMessage(source, answer.data.error);
  showBanner(`Disabled ${source.name}; it will continue where it stopped when enabled again.`, "success");
  await load();
}

function pollButton(source) {
  const button = actionButton(busy(source) ? "Polling…" : "Poll now", (event) => poll(source, event.currentTarget));
  button.disabled = busy(source);
  return button;
}

/** Start a poll: the answer comes at once, the list then follows its progress. */
async function poll(source, button) {
  button.disabled = true;
  button.textContent = "Polling…";
  const answer = await api("POST", `/mail-sources/${source.id}/poll`);
  if (!answer.ok) {
    await load();
    return rowMessage(source, answer.data.error);
  }
  watched.add(source.id);
  await load();
}

// --- delete --------------------------------------------------------------------------------

function openDelete(source) {
  closePanels();
  deleting = source;
  $("delete-name").textContent = source.name;
  $("delete-error").textContent = "";
  $("delete-panel").hidden = false;
}

async function confirmDelete() {
  const answer = await api("DELETE", `/mail-sources/${deleting.id}`);
  if (!answer.ok) {
    $("delete-error").textContent = answer.data.error;
    return;
  }
  showBanner(`Deleted ${deleting.name}. Kept: ${answer.data.kept.join("; ")}.`, "success");
  closePanels();
  await load();
}

function start() {
  wireNavigation();
  $("source-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(load, 250);
  });
  $("edit-form").addEventListener("submit", saveEdit);
  $("edit-test").addEventListener("click", testEdit);
  $("edit-cancel").addEventListener("click", closePanels);
  $("enable-confirm").addEventListener("click", confirmEnable);
  $("enable-acknowledge").addEventListener("change", updateEnableButton);
  $("enable-skip").addEventListener("click", () => enable({ skip_existing: true }));
  $("enable-cancel").addEventListener("click", closePanels);
  $("delete-confirm").addEventListener("click", confirmDelete);
  $("delete-cancel").addEventListener("click", closePanels);
  wirePreview();
  load();
}

start();
