// Project and issue type chosen from the site's Jira, as the set-up wizard offers them, for the
// edit panel of a mail source. Where Jira's list cannot be loaded the field turns into a text
// input holding the value as it is, and says so beside it: a Jira hiccup must neither block an
// edit nor quietly change where a source's mail goes.

import { api, h } from "./app.js";

/** Keeps one field's input (a select, or a text input when Jira's list is out of reach). */
class Slot {
  constructor(name, note) {
    this.name = name;
    this.note = note;
    this.element = h("select", { name });
  }

  replace(element) {
    element.id = this.element.id;
    if (this.element.classList.contains("invalid")) element.classList.add("invalid");
    this.element.replaceWith(element);
    this.element = element;
    return element;
  }

  /** A select with these [value, label] options, `value` chosen; the note is cleared. */
  choose(options, value, { disabled = false } = {}) {
    const select = this.element.tagName === "SELECT" ? this.element : this.replace(h("select", { name: this.name }));
    select.replaceChildren(...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
    select.value = value;
    select.disabled = disabled;
    this.note.textContent = "";
    return select;
  }

  /** A text input keeping `value`, with why the list is missing beside it. */
  type(value, why) {
    const input = this.element.tagName === "INPUT"
      ? this.element
      : this.replace(h("input", { name: this.name, autocomplete: "off" }));
    input.value = value || "";
    input.disabled = false;
    this.note.textContent = why;
    return input;
  }

  get value() {
    return this.element.value.trim();
  }
}

/**
 * The two pickers for `source` (its stored project key and issue type are chosen, and kept as
 * options even when Jira does not offer them, so saving never changes them silently). Returns
 * {project, issueType} slots whose `element` goes into the form and `note` beside it.
 */
export function jiraPickers(source) {
  const project = new Slot("project_key", h("span", { dataset: { noteFor: "project_key" } }));
  const issueType = new Slot("issue_type", h("span", { dataset: { noteFor: "issue_type" } }));
  const stored = { project: source.project_key || "", issueType: source.issue_type || "" };
  let asked = 0; // the latest issue-type request: an older answer arriving late is dropped
  let askedFor = null; // the project it was for: a repeated change event asks nothing new

  const issueTypes = async (wanted) => {
    const key = project.value.toUpperCase();
    const mine = ++asked;
    askedFor = key;
    if (!key) {
      issueType.choose([["", "Choose a project first"]], "", { disabled: true });
      return;
    }
    // While loading, the select holds what is wanted, so a save in the meantime keeps it.
    issueType.choose([[wanted, wanted ? `${wanted} (loading…)` : "Loading…"]], wanted, { disabled: true });
    const answer = await api("GET", `/jira/projects/${encodeURIComponent(key)}/issue-types`);
    if (mine !== asked) return;
    if (!answer.ok) {
      issueType.type(wanted, `Jira's issue types for ${key} could not be loaded (${answer.data.error}); type the issue type's name.`);
      return;
    }
    const names = answer.data.issue_types.filter((t) => !t.subtask).map((t) => t.name);
    const options = names.map((name) => [name, name]);
    if (!wanted) options.unshift(["", "Choose an issue type"]);
    else if (!names.includes(wanted)) options.unshift([wanted, `${wanted} (not offered by Jira for ${key})`]);
    issueType.choose(options, wanted);
  };

  const projectChanged = () => {
    if (project.value.toUpperCase() === askedFor) return;
    // Back on the stored project, its stored type; elsewhere the same name if Jira has it.
    const wanted = project.value.toUpperCase() === stored.project ? stored.issueType : issueType.value;
    issueTypes(wanted);
  };

  const projects = async () => {
    project.choose([[stored.project, stored.project ? `${stored.project} (loading…)` : "Loading…"]], stored.project, { disabled: true });
    issueType.choose([[stored.issueType, stored.issueType || "Choose a project first"]], stored.issueType, { disabled: true });
    const answer = await api("GET", "/jira/projects");
    if (!answer.ok) {
      project.type(stored.project, `Jira's project list could not be loaded (${answer.data.error}); type the project key.`);
    } else {
      const found = answer.data.projects;
      const options = found.map((p) => [p.key, `${p.name} (${p.key})`]);
      if (!stored.project) options.unshift(["", "Choose a project"]);
      else if (!found.some((p) => p.key === stored.project)) {
        options.unshift([stored.project, `${stored.project} (not found in Jira)`]);
      }
      project.choose(options, stored.project);
    }
    project.element.addEventListener("change", projectChanged);
    await issueTypes(stored.issueType);
  };

  projects();
  return { project, issueType };
}
