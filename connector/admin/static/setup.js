// The set-up wizard: project -> mailbox -> custom fields -> workaround user -> summary -> enable.
// Each step talks to the admin API; a refusal is shown beside the field it names. A site that
// uses no workaround user (Jira Data Center: the API says `applies: false`) skips that step.

import {
  api, clearErrors, h, renderDiagnosis, showBanner, showError, wireNavigation,
} from "./app.js";
import { readSourceForm, renderSourceForm } from "./source-form.js";

let STEPS = ["project", "mailbox", "fields", "user", "summary"];
let userStepDecided = Promise.resolve(); // `decideUserStep`, started with the page
const state = { projectKey: "", issueType: "", source: null, fields: null, mapping: {} };
const $ = (id) => document.getElementById(id);

function show(step) {
  for (const section of document.querySelectorAll("section.step")) {
    section.hidden = section.dataset.step !== step;
  }
  const index = STEPS.indexOf(step);
  for (const item of document.querySelectorAll("#progress li")) {
    const at = STEPS.indexOf(item.dataset.step);
    item.className = at < index ? "done" : at === index ? "current" : "";
  }
  state.step = step;
  if (step === "fields") loadFields();
  if (step === "user") loadUser();
  if (step === "summary") renderSummary();
}

/** The redirect URI to the clipboard; where the browser refuses, it is selected to copy. */
async function copyRedirect() {
  const field = $("oauth-redirect");
  try {
    await navigator.clipboard.writeText(field.value);
    $("oauth-copied").textContent = "Copied.";
  } catch (_refused) {
    field.select();
    $("oauth-copied").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
}

// --- 1. project and issue type -------------------------------------------------------------

async function loadProjects() {
  const select = $("project");
  const answer = await api("GET", "/jira/projects");
  select.replaceChildren(h("option", { value: "" }, answer.ok ? "Choose a project" : "Projects could not be loaded"));
  if (!answer.ok) {
    showError($("project").closest("section"), { ...answer.data, field: "project_key" });
    return;
  }
  for (const project of answer.data.projects) {
    select.append(h("option", { value: project.key }, `${project.name} (${project.key})`));
  }
}

async function loadIssueTypes() {
  const select = $("issue-type");
  const section = select.closest("section");
  clearErrors(section);
  state.projectKey = $("project").value;
  select.disabled = true;
  select.replaceChildren(h("option", { value: "" }, state.projectKey ? "Loading…" : "Choose a project first"));
  if (!state.projectKey) return;
  const answer = await api("GET", `/jira/projects/${encodeURIComponent(state.projectKey)}/issue-types`);
  select.replaceChildren();
  if (!answer.ok) {
    showError(section, answer.data);
    return;
  }
  for (const type of answer.data.issue_types.filter((t) => !t.subtask)) {
    select.append(h("option", { value: type.name }, type.name));
  }
  select.disabled = false;
}

function projectNext() {
  const section = $("project").closest("section");
  clearErrors(section);
  state.projectKey = $("project").value;
  state.issueType = $("issue-type").value;
  if (!state.projectKey) return showError(section, { error: "Choose a project.", field: "project_key" });
  if (!state.issueType) return showError(section, { error: "Choose an issue type.", field: "issue_type" });
  show("mailbox");
}

// --- 2. mailbox ----------------------------------------------------------------------------

function mailboxBody() {
  return {
    ...readSourceForm($("mailbox-fields"), state.source),
    project_key: state.projectKey,
    issue_type: state.issueType,
  };
}

function onProvider(preset) {
  $("oauth").hidden = !preset.oauth;
  $("oauth-google").hidden = preset.oauth !== "google";
  $("oauth-microsoft").hidden = preset.oauth !== "microsoft";
  $("oauth-tenant-field").hidden = preset.oauth !== "microsoft";
  $("oauth-help-google").hidden = preset.oauth !== "google";
  $("oauth-help-microsoft").hidden = preset.oauth !== "microsoft";
}

async function testConnection() {
  const form = $("mailbox-form");
  clearErrors(form);
  $("diagnosis").hidden = true;
  const path = state.source ? `/mail-sources/${state.source.id}/test` : "/mail-sources/test";
  $("mailbox-test").disabled = true;
  const answer = await api("POST", path, mailboxBody());
  $("mailbox-test").disabled = false;
  if (!answer.ok) return showError(form, answer.data);
  renderDiagnosis($("diagnosis"), answer.data);
  const messages = (answer.data.steps || []).find((step) => step.name === "messages");
  state.mailboxCounts = messages && messages.data ? messages.data : null;
  return answer.data.ok;
}

async function saveSource() {
  const form = $("mailbox-form");
  clearErrors(form);
  const answer = state.source
    ? await api("PUT", `/mail-sources/${state.source.id}`, mailboxBody())
    : await api("POST", "/mail-sources", mailboxBody());
  if (!answer.ok) {
    showError(form, answer.data);
    return false;
  }
  state.source = answer.data;
  return true;
}

async function signIn(event) {
  const provider = event.currentTarget.dataset.provider;
  const form = $("mailbox-form");
  if (!(await saveSource())) return;
  const payload = {
    provider,
    client_id: $("oauth-client-id").value.trim(),
    client_secret: $("oauth-client-secret").value,
  };
  if (provider === "microsoft" && $("oauth-tenant").value.trim()) payload.tenant = $("oauth-tenant").value.trim();
  const answer = await api("POST", `/mail-sources/${state.source.id}/oauth/start`, payload);
  if (!answer.ok) return showError(form, answer.data);
  if (answer.data.connected) {
    $("oauth-result").textContent = "Signed in: the app can read this mailbox.";
  } else if (answer.data.authorization_url) {
    $("oauth-result").textContent = "Finish signing in in the window that opened, then test the connection.";
    window.open(answer.data.authorization_url, "_blank", "noopener");
  }
}

// --- 3. custom fields ----------------------------------------------------------------------

function unavailable(target, answer, what) {
  target.hidden = false;
  target.textContent = answer.status === 404 || answer.status === 405
    ? `${what} cannot be set up in this version yet; you can continue without it.`
    : answer.data.error;
}

async function loadFields() {
  const query = `project_key=${encodeURIComponent(state.projectKey)}&issue_type=${encodeURIComponent(state.issueType)}`;
  const answer = await api("GET", `/settings/fields?${query}`);
  $("fields-error").textContent = "";
  if (!answer.ok) {
    $("fields-table").hidden = true;
    state.fields = null;
    return unavailable($("fields-unavailable"), answer, "Custom fields");
  }
  $("fields-unavailable").hidden = true;
  state.fields = answer.data;
  state.mapping = { ...answer.data.mapping };
  renderFields();
}

function screenState(role) {
  if (!role.field_id) return h("span", { className: "lozenge unknown" }, "No field");
  if (role.on_create_screen === true) return h("span", { className: "lozenge ok" }, "Found");
  if (role.on_create_screen === false) return h("span", { className: "lozenge error" }, "Missing: add it to the screen");
  return h("span", { className: "lozenge unknown" }, "Unknown");
}

function renderFields() {
  const data = state.fields;
  const rows = data.roles.map((role) => {
    const choose = h("select", { name: role.role, dataset: { role: role.role }, "aria-label": `Field that holds the ${role.label.toLowerCase()}` },
      h("option", { value: "" }, "Not kept"),
      data.custom_fields.map((f) => h("option", { value: f.id, selected: f.id === role.field_id }, `${f.name} (${f.id})`)));
    choose.addEventListener("change", () => { state.mapping[role.role] = choose.value || null; });
    const create = !role.field_id && data.can_create_fields
      ? h("button", { type: "button", className: "button", dataset: { create: role.role }, onclick: () => createField(role.role) }, "Create field")
      : null;
    return h("tr", { dataset: { role: role.role } },
      h("td", {}, role.label),
      h("td", {}, choose, h("div", { className: "field-error", dataset: { errorFor: role.role } })),
      h("td", {}, screenState(role)),
      h("td", {}, create));
  });
  $("fields-body").replaceChildren(...rows);
  $("fields-table").hidden = false;
  $("fields-check").hidden = false;
}

async function createField(role) {
  if (!(await saveMapping())) return; // the reload below must not lose choices made so far
  const answer = await api("POST", "/settings/fields/create", { role });
  if (!answer.ok) return showError($("fields-table"), { ...answer.data, field: answer.data.field || role }, $("fields-error"));
  await loadFields();
}

async function saveMapping() {
  if (!state.fields) return true;
  const answer = await api("PUT", "/settings/fields", { mapping: state.mapping });
  if (!answer.ok) showError($("fields-table"), answer.data, $("fields-error"));
  return answer.ok;
}

async function fieldsNext() {
  if (!(await saveMapping())) return;
  await userStepDecided;
  show(STEPS[STEPS.indexOf("fields") + 1]);
}

// After adding a field to the create screen in Jira, the admin checks again here.
async function fieldsCheck() {
  if (await saveMapping()) await loadFields();
}

// --- 4. workaround user --------------------------------------------------------------------

/** Leave the step out where the site uses no workaround user; asked once, at the start. */
async function decideUserStep() {
  const answer = await api("GET", "/settings/workaround-user");
  if (answer.ok && answer.data.applies === false) {
    STEPS = STEPS.filter((step) => step !== "user");
    document.querySelector('#progress li[data-step="user"]').remove();
  }
}

async function loadUser() {
  const answer = await api("GET", "/settings/workaround-user");
  const form = $("user-form");
  clearErrors(form);
  if (!answer.ok) {
    form.hidden = true;
    return unavailable($("user-unavailable"), answer, "A workaround user");
  }
  form.hidden = false;
  $("user-unavailable").hidden = true;
  $("user-email").value = answer.data.email || "";
  $("user-current").textContent = answer.data.email
    ? `Set: ${answer.data.email}${answer.data.has_token ? " (API token stored)" : " (no API token)"}`
    : "No workaround user: the app acts as itself.";
}

async function saveUser() {
  const form = $("user-form");
  clearErrors(form);
  const answer = await api("PUT", "/settings/workaround-user", {
    email: $("user-email").value.trim(),
    api_token: $("user-token").value,
  });
  if (!answer.ok) return showError(form, answer.data);
  $("user-token").value = "";
  await loadUser();
}

async function testUser() {
  const form = $("user-form");
  clearErrors(form);
  const answer = await api("POST", "/settings/workaround-user/test", {
    project_key: state.projectKey,
    lookup: $("user-lookup").value.trim(),
  });
  if (!answer.ok) return showError(form, answer.data);
  renderDiagnosis($("user-diagnosis"), answer.data);
}

async function removeUser() {
  const answer = await api("DELETE", "/settings/workaround-user");
  if (!answer.ok) return showError($("user-form"), answer.data);
  await loadUser();
}

// --- 5. summary and enable -----------------------------------------------------------------

function renderSummary() {
  const s = state.source;
  const mapped = state.fields ? Object.values(state.mapping).filter(Boolean).length : 0;
  const items = [
    `Mail to ${s.username} (folder ${s.folder} on ${s.host}) becomes a ${s.issue_type} in ${s.project_key}; replies become comments.`,
    `The mailbox is checked every ${s.interval_minutes} minute${s.interval_minutes === 1 ? "" : "s"}; processed mail is ${{ mark_read: "marked as read", move: `moved to ${s.success_folder}`, delete: "deleted" }[s.after_processing]}.`,
    s.unmatched === "create" ? "Mail that is no reply creates a new issue." : "Mail that is no reply is ignored (logged).",
    mapped
      ? `${mapped} custom field${mapped === 1 ? "" : "s"} keep senders without a Jira account; their issues and comments also start with the sender and Cc.`
      : "No custom field keeps senders without a Jira account: agents see the sender and Cc only in the first line of each issue and comment, and cannot search or filter by them.",
  ];
  if (state.mailboxCounts && state.mailboxCounts.total !== undefined) {
    items.push(`The mailbox holds ${state.mailboxCounts.total} message${state.mailboxCounts.total === 1 ? "" : "s"} now; they are left alone unless you choose a date below.`);
  }
  $("summary-list").replaceChildren(...items.map((item) => h("li", {}, item)));
  $("estimate").textContent = "";
  $("acknowledge-row").hidden = true;
}

async function enable() {
  const section = $("enable").closest("section");
  clearErrors(section);
  $("enable-error").textContent = "";
  const options = {};
  const existing = section.querySelector('input[name="existing"]:checked').value;
  if (existing === "since") {
    if (!$("existing-since").value) {
      return showError(section, { error: "Choose the day to start from.", field: "process_existing_since" });
    }
    options.process_existing_since = $("existing-since").value;
  }
  if (!$("acknowledge-row").hidden && $("acknowledge").checked) options.acknowledge = true;
  $("enable").disabled = true;
  const answer = await api("POST", `/mail-sources/${state.source.id}/enable`, options);
  $("enable").disabled = false;
  if (answer.status === 409 && answer.data.estimate) {
    const estimate = answer.data.estimate;
    $("estimate").textContent = `${estimate.messages}${estimate.more ? "+" : ""} existing messages would be processed.`;
    $("acknowledge-row").hidden = false;
    return showError(section, answer.data, $("enable-error"));
  }
  if (!answer.ok) return showError(section, answer.data, $("enable-error"));
  const estimate = answer.data.estimate;
  state.source = answer.data.source;
  $("enable").hidden = true;
  $("enabled").hidden = false;
  $("enabled-text").textContent = estimate.messages
    ? `Enabled. ${estimate.messages} existing message${estimate.messages === 1 ? "" : "s"} will be processed, then new mail as it arrives.`
    : "Enabled. New mail will become issues from now on.";
  showBanner("");
}

// --- wiring --------------------------------------------------------------------------------

function start() {
  wireNavigation();
  userStepDecided = decideUserStep();
  renderSourceForm($("mailbox-fields"), null, { onProvider });
  $("project").addEventListener("change", loadIssueTypes);
  $("project-next").addEventListener("click", projectNext);
  $("mailbox-test").addEventListener("click", testConnection);
  $("mailbox-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await saveSource()) show("fields");
  });
  $("oauth-copy").addEventListener("click", copyRedirect);
  $("oauth-google").addEventListener("click", signIn);
  $("oauth-microsoft").addEventListener("click", signIn);
  $("fields-next").addEventListener("click", fieldsNext);
  $("fields-check").addEventListener("click", fieldsCheck);
  $("user-save").addEventListener("click", saveUser);
  $("user-test").addEventListener("click", testUser);
  $("user-remove").addEventListener("click", removeUser);
  $("user-next").addEventListener("click", () => show("summary"));
  $("enable").addEventListener("click", enable);
  for (const back of document.querySelectorAll("[data-back]")) {
    back.addEventListener("click", () => show(STEPS[Math.max(0, STEPS.indexOf(state.step) - 1)]));
  }
  show("project");
  loadProjects();
}

start();
