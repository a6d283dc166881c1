// Address rules of a mail source: which project mail goes to, by the address it was sent to.
// An ordered list (the first matching rule wins), the fallback for mail no rule matches, the
// plus-address allow-list, and "which rule would this mail match?", which tries the rules as
// edited, before they are saved. Inputs are named as the API names its errors
// (`address_rules[0].pattern`), so a refusal lands beside the input at fault.

import { api, clearErrors, fileBase64, h, showError } from "./app.js";

const KINDS = [
  ["exact", "Exact address"],
  ["domain", "Whole domain (*@example.com)"],
  ["regex", "Regular expression"],
];
const PLACEHOLDERS = { exact: "billing@example.com", domain: "*@partners.example.com", regex: "(sales|quotes)@example\\.com" };
const HEADERS_HELP = "Recipients are read from Delivered-To, X-Original-To, X-Forwarded-To, Envelope-To, then To and Cc, because aliases and forwarding rewrite To.";

function slot(name) {
  return h("div", { className: "field-error", dataset: { errorFor: name } });
}

function list(text) {
  return text.split(/[\s,]+/).map((item) => item.trim()).filter(Boolean);
}

/** One rule's row; `rule.defaults` it does not show are kept as they were. */
function ruleRow(rule, editor) {
  const defaults = { ...(rule.defaults || {}) };
  const kind = h("select", { dataset: { part: "match" } },
    ...KINDS.map(([value, label]) => h("option", { value, selected: value === (rule.match || "exact") }, label)));
  const pattern = h("input", { dataset: { part: "pattern" }, value: rule.pattern || "", autocomplete: "off", placeholder: PLACEHOLDERS[rule.match || "exact"] });
  kind.addEventListener("change", () => { pattern.placeholder = PLACEHOLDERS[kind.value]; });
  const project = h("input", { dataset: { part: "project_key" }, value: rule.project_key || "", list: "rule-projects", autocomplete: "off", placeholder: "SUP" });
  const issueType = h("input", { dataset: { part: "issue_type" }, value: rule.issue_type || "", autocomplete: "off", placeholder: "The source's" });
  const assignee = assigneePicker(defaults.default_assignee || "");
  const labels = h("input", { dataset: { part: "defaults.labels" }, value: (defaults.labels || []).join(", "), autocomplete: "off", placeholder: "billing, email" });
  const priority = h("input", { dataset: { part: "defaults.priority" }, value: defaults.priority || "", autocomplete: "off", placeholder: "The source's" });
  const move = (step) => () => editor.move(row, step);
  const row = h("li", { className: "rule" },
    h("div", { className: "rule-head" },
      h("strong", { className: "rule-title" }),
      h("span", {},
        h("button", { type: "button", className: "button subtle", "aria-label": "Move up", onclick: move(-1) }, "↑"),
        h("button", { type: "button", className: "button subtle", "aria-label": "Move down", onclick: move(1) }, "↓"),
        h("button", { type: "button", className: "button subtle", onclick: () => editor.remove(row) }, "Remove"))),
    h("div", { className: "rule-fields" },
      field("Mail sent to", kind, "match"),
      field("Address or pattern", pattern, "pattern"),
      field("Project", project, "project_key"),
      field("Issue type", issueType, "issue_type"),
      assigneeField(assignee),
      field("Labels", labels, "defaults.labels"),
      field("Priority", priority, "defaults.priority")),
    h("div", { className: "field-error", dataset: { slot: "", errorFor: "" } }));
  row.ruleDefaults = defaults;
  return row;
}

// --- the assignee, picked from Jira's users ---------------------------------------------------

const NOBODY = "Nobody: Jira's default";

/** A select of Jira users (by account id), filled from a search by name or email. */
function assigneePicker(current) {
  const select = h("select", { dataset: { part: "defaults.default_assignee" } },
    h("option", { value: "" }, NOBODY),
    current ? h("option", { value: current, selected: true }, `Account ${current}`) : null);
  const search = h("input", { type: "search", autocomplete: "off", placeholder: "Find by name or email",
    "aria-label": "Find the assignee among Jira users" });
  const status = h("span", { className: "help", role: "status" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => findUsers(select, search.value.trim(), status), 250);
  });
  select.searchBox = search;
  select.statusLine = status;
  return select;
}

async function findUsers(select, query, status) {
  if (!query) return;
  const answer = await api("GET", `/jira/users?q=${encodeURIComponent(query)}`);
  if (!answer.ok) {
    status.textContent = answer.data.error;
    return;
  }
  const chosen = select.value;
  const keep = [...select.options].filter((option) => option.value === "" || option.value === chosen);
  const found = answer.data.users.filter((user) => user.account_id !== chosen).map((user) =>
    h("option", { value: user.account_id }, user.email ? `${user.display_name} <${user.email}>` : user.display_name));
  select.replaceChildren(...keep, ...found);
  status.textContent = found.length ? `${found.length} found: choose one above.` : "No Jira user matches.";
}

function assigneeField(select) {
  select.setAttribute("aria-label", "Assignee");
  return h("div", { className: "field" }, h("span", { className: "label" }, "Assignee"),
    select.searchBox, select, select.statusLine,
    h("div", { className: "field-error", dataset: { slot: "defaults.default_assignee", errorFor: "" } }));
}

function field(label, input, part) {
  // Ids would change as rules move, so each input is named for assistive technology directly.
  input.setAttribute("aria-label", label);
  return h("div", { className: "field" }, h("span", { className: "label" }, label), input,
    h("div", { className: "field-error", dataset: { slot: part, errorFor: "" } }));
}

/** Name inputs and error slots by position, as the API does: `address_rules[2].pattern`. */
function number(rules) {
  [...rules.children].forEach((row, index) => {
    const base = `address_rules[${index}]`;
    row.querySelector(".rule-title").textContent = `Rule ${index + 1}`;
    row.dataset.index = String(index);
    for (const input of row.querySelectorAll("input[data-part], select[data-part]")) input.name = `${base}.${input.dataset.part}`;
    for (const error of row.querySelectorAll(".field-error[data-slot]")) {
      error.dataset.errorFor = error.dataset.slot ? `${base}.${error.dataset.slot}` : base;
    }
  });
}

function readRule(row) {
  const value = (part) => row.querySelector(`[data-part="${part}"]`).value.trim();
  const defaults = { ...row.ruleDefaults };
  delete defaults.default_assignee;
  delete defaults.labels;
  delete defaults.priority;
  if (value("defaults.default_assignee")) defaults.default_assignee = value("defaults.default_assignee");
  if (value("defaults.labels")) defaults.labels = list(value("defaults.labels"));
  if (value("defaults.priority")) defaults.priority = value("defaults.priority");
  return {
    match: value("match"),
    pattern: value("pattern"),
    project_key: value("project_key").toUpperCase(),
    issue_type: value("issue_type") || null,
    defaults,
  };
}

/** Render the editor for `source` into `container` (inside the source's form). */
export function renderAddressRules(container, source) {
  const rules = h("ol", { className: "rules", id: "rules" });
  const empty = h("p", { className: "help", id: "rules-empty" }, "No address rules: all mail goes to the source's project.");
  const refresh = () => {
    number(rules);
    empty.hidden = rules.children.length > 0;
  };
  const editor = {
    move(row, step) {
      const sibling = step < 0 ? row.previousElementSibling : row.nextElementSibling;
      if (!sibling) return;
      if (step < 0) sibling.before(row);
      else sibling.after(row);
      refresh();
    },
    remove(row) {
      row.remove();
      refresh();
    },
  };
  for (const rule of source.address_rules || []) rules.append(ruleRow(rule, editor));
  const add = h("button", { type: "button", className: "button", id: "rule-add", onclick: () => {
    const row = ruleRow({ match: "exact", project_key: source.project_key }, editor);
    rules.append(row);
    refresh();
    row.querySelector('[data-part="pattern"]').focus();
  } }, "Add a rule");
  const fallback = (value, label) => h("label", { className: "radio" },
    h("input", { type: "radio", name: "unrouted", value, checked: (source.unrouted || "source") === value }), label);
  const plus = h("input", { name: "plus_projects", id: "plus-projects", value: (source.plus_projects || []).join(", "), autocomplete: "off", placeholder: "SUP, OPS" });
  const local = (source.username || "support@example.com").split("@");
  container.replaceChildren(
    h("h3", {}, "Address rules"),
    h("p", { className: "help" }, "Route mail by the address it was sent to. The first rule that matches wins; replies still go to their issue whatever address they were sent to. ", HEADERS_HELP),
    h("datalist", { id: "rule-projects" }),
    empty, rules, slot("address_rules"),
    h("div", { className: "buttons" }, add),
    h("fieldset", { className: "field" },
      h("legend", {}, "Mail no rule matches"),
      fallback("source", `Goes to the source's project (${source.project_key})`),
      fallback("ignore", "Is ignored (logged, not created)"),
      slot("unrouted")),
    h("div", { className: "field" },
      h("label", { for: "plus-projects" }, "Projects a plus address may choose"),
      plus,
      h("div", { className: "help" }, `Mail to ${local[0]}+KEY@${local[1] || "…"} goes to project KEY only if KEY is listed here, so a customer cannot pick any project by typing its key.`),
      slot("plus_projects")),
    renderRouteCheck(source, () => readAddressRules(container)),
  );
  refresh();
  fillProjects(container.querySelector("#rule-projects"));
}

async function fillProjects(datalist) {
  const answer = await api("GET", "/jira/projects");
  if (!answer.ok) return;
  datalist.replaceChildren(...answer.data.projects.map((p) => h("option", { value: p.key }, p.name)));
}

/** The routing settings as the API takes them. */
export function readAddressRules(container) {
  const checked = container.querySelector('[name="unrouted"]:checked');
  return {
    address_rules: [...container.querySelectorAll("#rules > li")].map(readRule),
    plus_projects: list(container.querySelector('[name="plus_projects"]').value).map((key) => key.toUpperCase()),
    unrouted: checked ? checked.value : "source",
  };
}

// --- which rule would this mail match? ------------------------------------------------------

function renderRouteCheck(source, currentRules) {
  const headers = h("textarea", { name: "headers", id: "route-headers", rows: 6, spellcheck: "false",
    placeholder: "Delivered-To: billing@example.com\nTo: Support <support@example.com>\nFrom: Jo <jo@customer.example>\nSubject: Invoice 42" });
  const file = h("input", { type: "file", name: "eml", id: "route-eml", accept: ".eml,message/rfc822" });
  const result = h("div", { className: "route-result", id: "route-result", hidden: true });
  const box = h("div", { className: "route-check" },
    h("h3", {}, "Which rule would this mail match?"),
    h("p", { className: "help" }, "Paste a message's headers or choose an .eml file. The rules above are tried as they are now, before you save them; nothing is created."),
    h("div", { className: "field wide" }, h("label", { for: "route-headers" }, "Headers"), headers, slot("headers")),
    h("div", { className: "field" }, h("label", { for: "route-eml" }, "Or a message file (.eml)"), file, slot("eml")),
    h("div", { className: "buttons" },
      h("button", { type: "button", className: "button", id: "route-check", onclick: () => check() }, "Check")),
    result);

  async function check() {
    const form = box.closest("form") || box;
    clearErrors(form);
    const rules = currentRules();
    const body = { ...rules };
    if (file.files.length) body.eml = await fileBase64(file.files[0]);
    else body.headers = headers.value;
    const answer = await api("POST", `/mail-sources/${source.id}/route-check`, body);
    if (!answer.ok) {
      result.hidden = true;
      return showError(form, answer.data, form.querySelector('[data-error-for="headers"]'));
    }
    renderResult(result, answer.data, rules.address_rules);
  }
  return box;
}

function decidedBy(route, rules) {
  if (route.decided_by === "rule" && route.rule_index !== null) {
    const rule = rules[route.rule_index] || {};
    return `Rule ${route.rule_index + 1} (${rule.pattern} → ${route.project_key})`;
  }
  if (route.decided_by === "plus") return `The plus address (→ ${route.project_key})`;
  if (route.decided_by === "source") return `No rule: the source's project (${route.project_key})`;
  return "No rule: ignored";
}

function renderResult(target, data, rules) {
  const route = data.route;
  const outcome = { create: "ok", comment: "ok", ignored: "unknown" }[data.outcome] || "";
  const facts = h("dl", { className: "facts" },
    h("dt", {}, "Outcome"), h("dd", {}, h("span", { className: `lozenge ${outcome}` }, data.outcome), ` ${data.reason}`),
    h("dt", {}, "Decided by"), h("dd", { className: "decided", id: "route-decided" }, decidedBy(route, rules)),
    h("dt", {}, "Address"), h("dd", {}, route.address ? `${route.address} (${route.header})` : "—"),
    h("dt", {}, "From"), h("dd", {}, data.message.sender || "—"),
    h("dt", {}, "Subject"), h("dd", {}, data.message.subject || "(no subject)"));
  if (route.also.length) {
    facts.append(h("dt", {}, "Also addressed to"),
      h("dd", {}, route.also.map((m) => `${m.address} → ${m.project_key}`).join("; ")));
  }
  const recipients = h("ul", {}, ...data.recipients.map((r) => h("li", {}, `${r.header}: ${r.address}`)));
  target.replaceChildren(facts,
    h("h4", {}, "Recipients, in the order they are read"), data.recipients.length ? recipients : h("p", { className: "help" }, "none found"),
    h("h4", {}, "Decision trail"), h("ol", { className: "trail", id: "route-trail" }, ...data.trail.map((step) => h("li", {}, step))));
  target.hidden = false;
}
