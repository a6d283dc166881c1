// "What would this mail become?": a pasted or uploaded message, read and decided as the source
// would (the route check, with what agents would read). Mail-borne text goes in as text only.

import { api, clearErrors, fileBase64, h, showError } from "./app.js";

const $ = (id) => document.getElementById(id);
let previewing = null;

const OUTCOME_WORDS = {
  create: "A new issue",
  comment: "A comment",
  ignored: "Nothing: ignored",
  quarantine: "Nothing yet: held as failed",
};

/** Pasted text as the bytes of a message file, line ends as mail has them. */
function textBase64(text) {
  const bytes = new TextEncoder().encode(text.replace(/\r?\n/g, "\r\n"));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function notes(rendering) {
  const found = [];
  if (rendering.quote_found) found.push("quoted earlier mail left out");
  if (rendering.signature_found) found.push("signature left out");
  if (rendering.truncated) found.push("cut to Jira's limit; the full text would be attached");
  return found.length ? h("p", { className: "help" }, found.join(" · ")) : null;
}

function addresses(list) {
  return list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(", ") || "—";
}

function rendered(title, rendering) {
  return [
    h("h3", {}, title),
    notes(rendering),
    h("pre", { className: "agent-text", id: "preview-text" }, rendering.text || "(empty)"),
  ];
}

function render(data) {
  const view = data.preview;
  const lozenge = { create: "ok", comment: "ok", ignored: "unknown", quarantine: "error" }[data.outcome] || "";
  const target = data.outcome === "comment" && data.issue_key ? ` on ${data.issue_key}` : "";
  const where = data.route.project_key ? ` in ${data.route.project_key}` : "";
  const facts = h("dl", { className: "facts", id: "preview-facts" },
    h("dt", {}, "Becomes"), h("dd", {},
      h("span", { className: `lozenge ${lozenge}` }, data.outcome),
      ` ${OUTCOME_WORDS[data.outcome] || data.outcome}${data.outcome === "create" ? where : target}: ${data.reason}`),
    h("dt", {}, "Classified as"), h("dd", { id: "preview-classification" }, `${view.classification.kind} (${view.classification.reason})`),
    h("dt", {}, "Routed"), h("dd", {}, data.route.reason || "—"),
    h("dt", {}, "From"), h("dd", {}, data.message.sender || "—"),
    h("dt", {}, "To"), h("dd", {}, addresses(view.to)),
    h("dt", {}, "Cc"), h("dd", {}, addresses(view.cc)),
    h("dt", {}, "Subject"), h("dd", {}, data.message.subject || "(no subject)"));
  const parts = [facts];
  if (data.outcome === "comment") parts.push(...rendered(`The comment${target}`, view.reply));
  else parts.push(...rendered(data.outcome === "create" ? "The new issue's description" : "The description it would have", view.description));
  if (view.attachments.length) {
    parts.push(h("h3", {}, "Attachments"),
      h("ul", {}, ...view.attachments.map((a) => h("li", {}, `${a.filename} (${a.content_type}, ${a.size} bytes)${a.inline ? ", inline" : ""}`))));
  }
  parts.push(h("h3", {}, "Decision trail"), h("ol", { className: "trail" }, ...data.trail.map((step) => h("li", {}, step))));
  $("preview-result").replaceChildren(...parts);
  $("preview-result").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const form = $("preview-form");
  clearErrors(form);
  const file = $("preview-eml").files[0];
  const pasted = $("preview-message").value;
  if (!file && !pasted.trim()) {
    return showError(form, { error: "Paste a message or choose an .eml file.", field: "message" });
  }
  const eml = file ? await fileBase64(file) : textBase64(pasted);
  const answer = await api("POST", `/mail-sources/${previewing.id}/route-check`, { eml });
  if (!answer.ok) {
    $("preview-result").hidden = true;
    const field = file ? "eml" : "message";
    return showError(form, { ...answer.data, field });
  }
  render(answer.data);
}

export function openPreview(source) {
  previewing = source;
  $("preview-name").textContent = `(${source.name})`;
  $("preview-result").hidden = true;
  clearErrors($("preview-form"));
  $("preview-panel").hidden = false;
  $("preview-panel").scrollIntoView({ block: "nearest" });
  $("preview-message").focus();
}

export function closePreview() {
  $("preview-panel").hidden = true;
  previewing = null;
}

export function wirePreview() {
  $("preview-form").addEventListener("submit", submit);
  $("preview-cancel").addEventListener("click", closePreview);
}
