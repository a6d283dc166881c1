// The mail source form, shared by the set-up wizard and the edit panel of the sources list.
// Field names are the API's, so an API refusal naming a field lands beside that input.

import { h, presets } from "./app.js";
import { jiraPickers } from "./jira-pickers.js";

// Settings the API takes back on PUT; the form keeps the ones it does not show unchanged.
const SETTINGS = [
  "name", "description", "protocol", "provider", "host", "port", "security", "verify_tls",
  "username", "folder", "interval_minutes", "push", "timeout_seconds", "after_processing",
  "success_folder", "failure_folder", "exclusion_folders", "max_message_bytes", "project_key",
  "issue_type", "unmatched", "policy", "address_rules", "plus_projects", "unrouted",
];

function field(label, input, help) {
  const id = `f-${input.name}`;
  input.id = id;
  return h(
    "div",
    { className: "field", dataset: { field: input.name } },
    h("label", { for: id }, label),
    input,
    help ? h("div", { className: "help" }, help) : null,
    h("div", { className: "field-error", dataset: { errorFor: input.name } }),
  );
}

function select(name, options, value) {
  const element = h("select", { name });
  for (const [optionValue, label] of options) {
    element.append(h("option", { value: optionValue, selected: optionValue === value }, label));
  }
  return element;
}

function text(name, value, attrs = {}) {
  return h("input", { name, value: value ?? "", autocomplete: "off", ...attrs });
}

/**
 * Render the form into `container` for `source` (null for a new one). `withProject` shows
 * project and issue type, picked from Jira (the wizard asks for them in its own step).
 * `onProvider(preset)` is told when the provider changes (the wizard shows OAuth buttons for
 * Google and Microsoft).
 */
export function renderSourceForm(container, source, { withProject = false, onProvider } = {}) {
  const s = source || {};
  const all = presets();
  const provider = select("provider", all.map((p) => [p.key, p.name]), s.provider || "custom");
  const note = h("div", { className: "help preset-note" });
  const protocol = select("protocol", [["imap", "IMAP"], ["pop3", "POP3"]], s.protocol || "imap");
  const host = text("host", s.host, { placeholder: "imap.example.com" });
  const port = text("port", s.port, { type: "number", min: 1, max: 65535 });
  const security = select(
    "security",
    [["ssl", "SSL/TLS"], ["starttls", "STARTTLS"], ["none", "None (unencrypted)"]],
    s.security || "ssl",
  );
  const verify = h("input", { type: "checkbox", name: "verify_tls", checked: s.verify_tls !== false });
  const push = h("input", { type: "checkbox", name: "push", checked: s.push !== false });
  const password = text("password", "", {
    type: "password",
    placeholder: s.has_password ? "Stored: leave empty to keep it" : "",
  });
  const afterProcessing = select(
    "after_processing",
    [["mark_read", "Mark as read"], ["move", "Move to a folder"], ["delete", "Delete"]],
    s.after_processing || "mark_read",
  );

  // Issue 15: whose word a sender's Jira account is taken on. Kept inside `policy`.
  const policy = s.policy || {};
  const verification = select(
    "sender_verification",
    [["verify", "Only when the mail is authenticated (DKIM or DMARC)"],
      ["trust_mailbox", "Trust the mailbox to have refused forgeries"],
      ["reject_unverified", "Quarantine unauthenticated mail from Jira users"]],
    policy.sender_verification || "verify",
  );
  const trustedIds = (policy.trusted_authserv_ids || []).join(", ");
  const verificationNote = h("div", { className: "help" });
  const showVerification = () => {
    verificationNote.textContent =
      verification.value === "trust_mailbox"
        ? "Warning: anyone who can get mail into this mailbox can then write as any Jira user. " +
          "Choose this only for an internal server that refuses forged senders."
        : `Authentication-Results trusted from: ${trustedIds || "the provider's servers (or the mail server's own name)"}.`;
  };
  verification.addEventListener("change", showVerification);
  showVerification();

  const parts = [
    field("Provider", provider),
    note,
    field("Name", text("name", s.name || "Support inbox", { required: true })),
    field("Description", text("description", s.description)),
    field("Protocol", protocol),
    field("Server", host),
    field("Port", port),
    field("Security", security),
    h(
      "div",
      { className: "field checkbox-field" },
      h("label", { className: "checkbox" }, verify, " Check the server's certificate"),
      h("div", { className: "field-error", dataset: { errorFor: "verify_tls" } }),
    ),
    field("Username", text("username", s.username, { placeholder: "support@example.com" })),
    field("Password", password),
    field("Folder", text("folder", s.folder || "INBOX")),
    field(
      "Check every (minutes)",
      text("interval_minutes", s.interval_minutes || 1, { type: "number", min: 1, max: 60 }),
    ),
    h(
      "div",
      { className: "field checkbox-field" },
      h("label", { className: "checkbox" }, push, " Be told about new mail at once (IMAP IDLE, or Graph notifications) when the server allows"),
      h("div", { className: "help" }, "The mailbox is still checked at the interval above."),
      h("div", { className: "field-error", dataset: { errorFor: "push" } }),
    ),
    field("After processing", afterProcessing),
    field("Move processed mail to", text("success_folder", s.success_folder)),
    field("Move failed mail to", text("failure_folder", s.failure_folder)),
    field(
      "Mail that is no reply",
      select("unmatched", [["create", "Creates an issue"], ["ignore", "Is ignored"]], s.unmatched || "create"),
    ),
    field("Write as the sender's Jira account", verification, verificationNote),
  ];
  if (withProject) {
    const pickers = jiraPickers(s);
    parts.push(
      field("Project", pickers.project.element, pickers.project.note),
      field("Issue type", pickers.issueType.element, pickers.issueType.note),
    );
  }
  container.replaceChildren(...parts.filter(Boolean));

  const applyPreset = (fill) => {
    const preset = all.find((p) => p.key === provider.value) || all[all.length - 1];
    note.textContent = preset.note || "";
    const endpoint = preset.endpoints[protocol.value];
    if (fill && endpoint) {
      host.value = endpoint.host;
      port.value = endpoint.port;
      security.value = endpoint.security;
    }
    if (onProvider) onProvider(preset);
  };
  const defaults = { imap: { ssl: 993, starttls: 143, none: 143 }, pop3: { ssl: 995, starttls: 110, none: 110 } };
  const standardPorts = new Set(["993", "143", "995", "110"]);
  // A port the admin typed is kept; a standard one follows the protocol and security.
  const fillPort = () => {
    if (port.value && !standardPorts.has(port.value)) return;
    port.value = defaults[protocol.value][security.value];
  };
  provider.addEventListener("change", () => applyPreset(true));
  protocol.addEventListener("change", () => {
    applyPreset(true);
    if (provider.value === "custom") fillPort();
  });
  security.addEventListener("change", fillPort);
  applyPreset(!source);
  if (!port.value) fillPort();
}

/** The API body: `base` (the stored source, when editing) overlaid with the form's values. */
export function readSourceForm(container, base) {
  const body = {};
  for (const name of SETTINGS) if (base && base[name] !== undefined) body[name] = base[name];
  const value = (name) => {
    const input = container.querySelector(`[name="${name}"]`);
    return input ? input.value.trim() : undefined;
  };
  for (const name of ["provider", "name", "description", "protocol", "host", "security", "username", "folder", "after_processing", "unmatched", "project_key", "issue_type"]) {
    const found = value(name);
    if (found !== undefined) body[name] = found;
  }
  for (const name of ["port", "interval_minutes"]) {
    const found = value(name);
    if (found) body[name] = Number.parseInt(found, 10);
  }
  for (const name of ["success_folder", "failure_folder"]) {
    const found = value(name);
    if (found !== undefined) body[name] = found || null;
  }
  const verification = value("sender_verification");
  if (verification) body.policy = { ...(body.policy || {}), sender_verification: verification };
  body.verify_tls = container.querySelector('[name="verify_tls"]').checked;
  body.push = container.querySelector('[name="push"]').checked;
  const password = container.querySelector('[name="password"]').value;
  if (password) body.password = password;
  return body;
}
