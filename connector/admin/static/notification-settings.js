// What customers are told: events, per-project overrides, the acknowledgement, the link,
// retention and the templates. Inputs are named as the API names its errors (for example
// `templates.comment_subject`, `projects.OPS.events`), so a refusal lands beside its input.

import { api, clearErrors, h, showBanner, showError, when } from "./app.js";

const $ = (id) => document.getElementById(id);
const form = () => $("settings-form");
const EVENTS = [["comment_created", "Public comments"], ["issue_status", "Status changes"]];
const TEMPLATE_KINDS = { comment: "Comment", status: "Status change", acknowledgement: "Acknowledgement" };
const TEMPLATE_PARTS = { subject: "subject", text: "plain text", html: "HTML" };

let defaults = {};

function slot(name) {
  return h("div", { className: "field-error", dataset: { errorFor: name } });
}

function projectRow(key, rule) {
  const name = `projects.${key}`;
  const events = EVENTS.map(([event]) =>
    h("td", {}, h("input", {
      type: "checkbox", name: `${name}.events`, value: event, "aria-label": `${key}: ${event}`,
      checked: rule.events.includes(event),
    })));
  return h("tr", { dataset: { project: key } },
    h("td", {}, h("strong", {}, key), slot(name), slot(`${name}.events`)),
    h("td", {}, h("input", { type: "checkbox", name: `${name}.enabled`, "aria-label": `${key}: notify`, checked: rule.enabled })),
    ...events,
    h("td", {}, h("button", {
      type: "button", className: "button subtle", onclick: (event) => {
        event.currentTarget.closest("tr").remove();
        $("projects-table").hidden = $("projects-body").children.length === 0;
      },
    }, "Remove")));
}

function renderProjects(projects) {
  $("projects-body").replaceChildren(...Object.entries(projects).map(([key, rule]) => projectRow(key, rule)));
  $("projects-table").hidden = $("projects-body").children.length === 0;
}

function addProject() {
  const key = $("project-add-key").value;
  if (!key || $("projects-body").querySelector(`tr[data-project="${CSS.escape(key)}"]`)) return;
  $("projects-body").append(projectRow(key, { enabled: true, events: EVENTS.map(([event]) => event) }));
  $("projects-table").hidden = false;
}

function templateEditor(name, value) {
  const [kind, part] = [name.slice(0, name.lastIndexOf("_")), name.slice(name.lastIndexOf("_") + 1)];
  const text = h("textarea", {
    name: `templates.${name}`, id: `t-${name}`, rows: part === "subject" ? 1 : 6,
    placeholder: defaults[name] || "", spellcheck: "false",
  });
  text.value = value || "";
  const copy = h("button", {
    type: "button", className: "button subtle",
    onclick: () => { text.value = defaults[name] || ""; },
  }, "Start from the default");
  return h("details", { className: "template", open: Boolean(value), dataset: { template: name } },
    h("summary", {}, `${TEMPLATE_KINDS[kind] || kind}: ${TEMPLATE_PARTS[part] || part}`, value ? " (changed)" : ""),
    h("div", { className: "field wide" },
      h("label", { for: `t-${name}` }, "Template"), text, slot(`templates.${name}`),
      h("div", {}, copy)));
}

function fill(settings) {
  defaults = settings.default_templates || {};
  form().querySelector('[name="enabled"]').checked = settings.enabled;
  for (const box of form().querySelectorAll('[name="events"]')) box.checked = settings.events.includes(box.value);
  renderProjects(settings.projects || {});
  form().querySelector('[name="acknowledgement"]').checked = settings.acknowledgement;
  form().querySelector('[name="acknowledgement_per_hour"]').value = settings.acknowledgement_per_hour;
  form().querySelector('[name="link"]').value = settings.link;
  form().querySelector('[name="retention_days"]').value = settings.retention_days;
  $("templates").replaceChildren(
    ...Object.keys(defaults).map((name) => templateEditor(name, (settings.templates || {})[name])));
  showTemplateError(settings.template_error);
}

// A custom template that failed as mail was sent (too slow, too large, or broken for one
// issue's values): the server turned the custom templates off until they are saved again.
function showTemplateError(fault) {
  const box = $("template-error");
  box.hidden = !fault;
  if (!fault) return box.replaceChildren();
  const issue = fault.issue_key ? ` for ${fault.issue_key}` : "";
  box.replaceChildren(
    h("strong", {}, "Custom templates are off. "),
    `The template ${fault.template} failed ${when(fault.at)}${issue}: ${fault.reason}. `,
    "Customers get the default templates until you correct it and save.");
  const editor = $("templates").querySelector(`details[data-template="${CSS.escape(fault.template)}"]`);
  if (!editor) return;
  editor.open = true;
  editor.querySelector(`[data-error-for="templates.${CSS.escape(fault.template)}"]`).textContent = fault.reason;
}

function number(name) {
  const value = form().querySelector(`[name="${name}"]`).value.trim();
  return value === "" ? undefined : Number(value);
}

function read() {
  const projects = {};
  for (const row of $("projects-body").querySelectorAll("tr[data-project]")) {
    const key = row.dataset.project;
    projects[key] = {
      enabled: row.querySelector(`[name="projects.${key}.enabled"]`).checked,
      events: [...row.querySelectorAll(`[name="projects.${key}.events"]:checked`)].map((box) => box.value),
    };
  }
  const templates = {};
  for (const text of $("templates").querySelectorAll("textarea")) {
    if (text.value.trim()) templates[text.name.slice("templates.".length)] = text.value;
  }
  const body = {
    enabled: form().querySelector('[name="enabled"]').checked,
    events: [...form().querySelectorAll('[name="events"]:checked')].map((box) => box.value),
    projects,
    acknowledgement: form().querySelector('[name="acknowledgement"]').checked,
    link: form().querySelector('[name="link"]').value.trim(),
    templates,
  };
  for (const name of ["acknowledgement_per_hour", "retention_days"]) {
    const value = number(name);
    if (value !== undefined) body[name] = value;
  }
  return body;
}

async function save(event) {
  event.preventDefault();
  clearErrors(form());
  const answer = await api("PUT", "/notification-settings", read());
  if (!answer.ok) {
    const field = answer.data.field || "";
    const editor = field.startsWith("templates.") ? form().querySelector(`details[data-template="${CSS.escape(field.slice(10))}"]`) : null;
    if (editor) editor.open = true;
    return showError(form(), answer.data);
  }
  fill(answer.data);
  showBanner("Saved the notification settings.", "success");
}

async function loadProjects() {
  const answer = await api("GET", "/jira/projects");
  const picker = $("project-add-key");
  if (!answer.ok) {
    picker.replaceChildren(h("option", { value: "" }, "Jira's projects could not be read"));
    return;
  }
  picker.replaceChildren(h("option", { value: "" }, "Choose a project"),
    ...answer.data.projects.map((p) => h("option", { value: p.key }, `${p.name} (${p.key})`)));
}

export async function startSettings() {
  form().addEventListener("submit", save);
  $("project-add").addEventListener("click", addProject);
  const answer = await api("GET", "/notification-settings");
  if (!answer.ok) return showBanner(answer.data.error);
  fill(answer.data);
  await loadProjects();
}
