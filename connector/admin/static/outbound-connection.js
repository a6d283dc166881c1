// The outbound mail connection: how notifications leave (SMTP or Microsoft Graph), its status,
// and a test that sends one real message and shows each step. The password is write-only:
// the API only says whether one is stored.

import { api, clearErrors, h, renderDiagnosis, showBanner, showError, when } from "./app.js";

const $ = (id) => document.getElementById(id);
const form = () => $("connection-form");
const input = (name) => form().querySelector(`[name="${name}"]`);
const STATUS = { unknown: "Not used yet", ok: "OK", error: "Error" };
const DEFAULT_PORTS = { ssl: "465", starttls: "587", none: "25" };

let saved = null; // the connection as the API last answered it
let edited = false; // the form differs from what is saved

function showStatus(connection) {
  const status = connection.status || "unknown";
  $("connection-status").replaceChildren(
    h("span", { className: `lozenge ${status}`, dataset: { status } }, STATUS[status] || status),
  );
  $("connection-status-at").textContent = connection.status_at ? when(connection.status_at) : "";
  $("connection-status-message").textContent = status === "error" ? connection.status_message : "";
}

/** Show only the inputs that matter for the chosen transport and sign-in. */
function showRelevant() {
  const graph = input("transport").value === "graph";
  if (graph) input("auth").value = "oauth";
  const auth = input("auth").value;
  const visible = {
    auth: !graph,
    host: !graph,
    port: !graph,
    security: !graph,
    verify_tls: !graph,
    username: auth !== "none",
    password: auth === "password",
    source_id: auth === "oauth",
  };
  for (const [name, shown] of Object.entries(visible)) {
    form().querySelector(`[data-for="${name}"]`).hidden = !shown;
  }
  const label = form().querySelector('[data-for="username"] label');
  label.textContent = graph ? "Mailbox that sends" : "Username";
}

function fill(connection) {
  saved = connection;
  edited = !connection.configured;
  for (const name of ["transport", "auth", "host", "port", "security", "username", "from_address", "from_name", "reply_to", "timeout_seconds"]) {
    input(name).value = connection[name] ?? "";
  }
  input("source_id").value = connection.source_id ? String(connection.source_id) : "";
  input("verify_tls").checked = connection.verify_tls !== false;
  input("enabled").checked = connection.enabled !== false;
  input("password").value = "";
  input("password").placeholder = connection.has_password ? "Stored: leave empty to keep it" : "";
  $("password-stored").hidden = !connection.has_password;
  $("password-remove-confirm").hidden = true;
  showStatus(connection);
  showRelevant();
}

/** The API body from the form; a password is only sent when one was typed. */
function read() {
  const body = {
    transport: input("transport").value,
    auth: input("auth").value,
    host: input("host").value.trim(),
    security: input("security").value,
    verify_tls: input("verify_tls").checked,
    username: input("username").value.trim(),
    source_id: input("source_id").value ? Number.parseInt(input("source_id").value, 10) : null,
    from_address: input("from_address").value.trim(),
    from_name: input("from_name").value.trim(),
    reply_to: input("reply_to").value.trim(),
    enabled: input("enabled").checked,
  };
  for (const name of ["port", "timeout_seconds"]) {
    const value = input(name).value.trim();
    if (value) body[name] = Number.parseInt(value, 10);
  }
  const password = input("password").value;
  if (password) body.password = password;
  return body;
}

async function loadSources() {
  const answer = await api("GET", "/mail-sources");
  if (!answer.ok) return;
  for (const source of answer.data.sources.filter((s) => s.uses_oauth)) {
    input("source_id").append(h("option", { value: String(source.id) }, `${source.name} (${source.username})`));
  }
  if (saved && saved.source_id) input("source_id").value = String(saved.source_id);
}

async function load() {
  const answer = await api("GET", "/outbound-connection");
  if (!answer.ok) return showBanner(answer.data.error);
  fill(answer.data);
}

async function save(event) {
  event.preventDefault();
  clearErrors(form());
  const answer = await api("PUT", "/outbound-connection", read());
  if (!answer.ok) return showError(form(), answer.data);
  fill(answer.data);
  showBanner("Saved the outbound connection. Send a test to see that it works.", "success");
}

/**
 * Unsaved edits are tested as typed (the stored status stays as it is); the saved connection
 * is tested as it is, and the answer becomes its status.
 */
async function sendTest() {
  clearErrors(form());
  const payload = { to: input("to").value.trim() };
  if (edited) payload.connection = read();
  const button = $("connection-test");
  button.disabled = true;
  button.textContent = "Sending…";
  const answer = await api("POST", "/outbound-connection/test", payload);
  button.disabled = false;
  button.textContent = "Send test";
  // Errors in the tested settings name the setting itself, so they land beside its input.
  if (!answer.ok) return showError(form(), answer.data);
  renderDiagnosis($("connection-diagnosis"), answer.data);
  if (!edited) await load();
}

/** Removing saves the form as shown with `password: null` (the API's way to forget it), so an
 * admin who has just chosen another way to sign in needs one step, not two. */
function askRemovePassword() {
  $("password-remove-warning").hidden = input("auth").value !== "password";
  $("password-remove-confirm").hidden = false;
}

async function removePassword() {
  clearErrors(form());
  const answer = await api("PUT", "/outbound-connection", { ...read(), password: null });
  $("password-remove-confirm").hidden = true;
  if (!answer.ok) return showError(form(), answer.data);
  fill(answer.data);
  showBanner("Removed the stored password. Send a test to see that mail still leaves.", "success");
}

export function startConnection() {
  $("password-remove").addEventListener("click", askRemovePassword);
  $("password-remove-yes").addEventListener("click", removePassword);
  $("password-remove-no").addEventListener("click", () => { $("password-remove-confirm").hidden = true; });
  form().addEventListener("submit", save);
  $("connection-test").addEventListener("click", sendTest);
  form().addEventListener("input", (event) => {
    if (event.target.name !== "to") edited = true;
  });
  input("transport").addEventListener("change", showRelevant);
  input("auth").addEventListener("change", showRelevant);
  input("security").addEventListener("change", () => {
    // A standard port follows the security; one the admin typed is kept.
    if (Object.values(DEFAULT_PORTS).includes(input("port").value) || !input("port").value) {
      input("port").value = DEFAULT_PORTS[input("security").value];
    }
  });
  return load().then(loadSources);
}
