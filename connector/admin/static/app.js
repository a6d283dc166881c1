// Shared by every page: the admin API with Connect context tokens, safe DOM building,
// errors shown beside the input they name. Text from mail only ever goes in through
// textContent (via h()), never as HTML.

const body = document.body;
export const basePath = body.dataset.basePath || "";
// Set when the page is open in a normal browser tab with a session (a site connected without
// an app install, signed in with `connector admin-link`): no AP there.
const csrf = body.dataset.csrf || "";

/** A context token from Jira (AP.context.getToken), for one API call. */
export function contextToken() {
  return new Promise((resolve, reject) => {
    if (!window.AP || !window.AP.context) {
      reject(new Error("This page must be opened inside Jira (the Connect script did not load)."));
      return;
    }
    window.AP.context.getToken((token) => {
      if (token) resolve(token);
      else reject(new Error("Jira did not give this page a token; reload the page."));
    });
  });
}

/**
 * Call the admin API. Answers {ok, status, data}; data is the JSON body ({error, field} on
 * refusals). Network failures and server errors are shown in the page banner too.
 */
export async function api(method, path, payload) {
  const headers = { Accept: "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf; // outside Jira: the session cookie goes along
  else headers.Authorization = `JWT ${await contextToken()}`;
  const init = { method, headers, credentials: "same-origin" };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  let response;
  try {
    response = await fetch(`${basePath}/api/v1${path}`, init);
  } catch (error) {
    showBanner(`The app could not be reached: ${error.message}`);
    return { ok: false, status: 0, data: { error: "the app could not be reached", field: null } };
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_ignored) {
    data = { error: `unexpected answer (HTTP ${response.status})`, field: null };
  }
  if (response.status >= 500) showBanner(data.error || `Server error (HTTP ${response.status})`);
  return { ok: response.ok, status: response.status, data };
}

/** Build an element; string children become text nodes, so nothing is parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "className") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function showBanner(message, kind = "error") {
  const banner = document.getElementById("page-message");
  if (!banner) return;
  banner.textContent = message;
  banner.className = `banner ${kind}`;
  banner.hidden = !message;
}

/** Clear the errors of a form (or any container of fields). */
export function clearErrors(container) {
  for (const slot of container.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const input of container.querySelectorAll(".invalid")) {
    input.classList.remove("invalid");
    input.removeAttribute("aria-invalid");
  }
}

let errorSlots = 0;

/** Mark a field invalid for everyone: drawn so, said so (aria-invalid), its error read with it
 * (aria-describedby), and the focus moved to it so the admin is taken where to fix it. */
function markInvalid(input, slot) {
  input.classList.add("invalid");
  input.setAttribute("aria-invalid", "true");
  if (!slot.id) slot.id = `field-error-${++errorSlots}`;
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(slot.id)) input.setAttribute("aria-describedby", [...described, slot.id].join(" "));
  input.focus();
}

// The API's refusals are written for programs ("host: '' is not a host name or IP address");
// beside the field they concern, people are told what to do instead.
const PLAIN_WORDS = [
  [/^is required$/, (label) => `Fill in ${label}.`],
  [/^'.*' is not a host name or IP address$/, () => "Enter the mail server's name (for example imap.example.com) or its IP address."],
  [/send again with "acknowledge": true/, () => "Many messages are waiting: tick the box to confirm they may become Jira issues and comments, then try again."],
  [/^must be a whole number/, () => "Enter a whole number."],
];

function fieldLabel(input) {
  const label = input && input.labels && input.labels[0];
  const text = label ? label.textContent.trim().replace(/\s*\*$/, "") : "";
  return text ? `the ${text.toLowerCase()}` : "this field";
}

/** What to say for an API refusal: its own words, or plainer ones for the ones we know. */
export function plainWords(message, field, input) {
  let text = message;
  if (field && text.startsWith(`${field}: `)) text = text.slice(field.length + 2);
  for (const [pattern, say] of PLAIN_WORDS) if (pattern.test(text)) return say(fieldLabel(input));
  const capital = (words) => words.charAt(0).toUpperCase() + words.slice(1);
  // "is required to sign in with a password": said of the field, so the field says it.
  if (/^(is|are|must) /.test(text)) return `${capital(fieldLabel(input))} ${text.replace(/\.?$/, ".")}`;
  return capital(text);
}

/** Show an API refusal beside the field it names, else in the container's general slot. */
export function showError(container, data, fallbackSlot) {
  const field = data && data.field;
  const input = field ? container.querySelector(`[name="${CSS.escape(field)}"]`) : null;
  const message = data && data.error ? plainWords(data.error, field, input) : "Something went wrong.";
  let slot = field ? container.querySelector(`[data-error-for="${CSS.escape(field)}"]`) : null;
  if (!slot) slot = fallbackSlot || container.querySelector('[data-error-for=""]');
  if (!slot) {
    showBanner(message);
    return;
  }
  slot.textContent = message;
  if (input) markInvalid(input, slot);
}

/** "5 min ago" style for the past, local time for the future; "never" for null. */
export function when(iso, never = "never") {
  if (!iso) return never;
  const moment = new Date(iso);
  const seconds = Math.round((Date.now() - moment.getTime()) / 1000);
  if (seconds >= 0 && seconds < 60) return "just now";
  if (seconds >= 60 && seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 0 && seconds > -3600) return `in ${Math.max(1, Math.round(-seconds / 60))} min`;
  return moment.toLocaleString();
}

/**
 * Open another of the app's pages (Jira reloads the iframe with a fresh page token; outside
 * Jira, under a site session, the browser loads the page). `customData` reaches the page as
 * `ac.<name>` query parameters (Connect's addonmodule navigation), read with `pageParameter`.
 */
export function navigate(page, customData) {
  const name = page.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase());
  if (window.AP && window.AP.navigator) {
    const moduleKey = body.dataset[`module${name}`];
    window.AP.navigator.go("addonmodule", customData ? { moduleKey, customData } : { moduleKey });
  } else if (csrf) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(customData || {})) query.set(`ac.${key}`, value);
    const suffix = query.toString() ? `?${query}` : "";
    window.location.assign(`${basePath}${body.dataset[`path${name}`]}${suffix}`);
  }
}

/** A value another page passed with `navigate(page, customData)`, or "". */
export function pageParameter(name) {
  return new URLSearchParams(window.location.search).get(`ac.${name}`) || "";
}

async function signOut() {
  await fetch(`${basePath}/site-signout`, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf },
    credentials: "same-origin",
  });
  window.location.assign(`${basePath}/site-signin`);
}

export function wireNavigation() {
  const signOutButton = document.getElementById("sign-out");
  if (signOutButton) signOutButton.addEventListener("click", signOut);
  for (const link of document.querySelectorAll("[data-navigate]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      navigate(link.dataset.navigate);
    });
  }
}

/** A step-by-step diagnosis (connection test, user test) as a list of passed / failed steps. */
export function renderDiagnosis(target, result) {
  target.replaceChildren();
  target.hidden = false;
  target.append(
    h("p", { className: result.ok ? "ok" : "failed" }, result.ok ? "All checks passed." : "A check failed:"),
  );
  const list = h("ol", { className: "steps" });
  for (const step of result.steps || []) {
    list.append(
      h(
        "li",
        { className: step.ok ? "ok" : "failed", dataset: { step: step.name } },
        h("span", { className: "mark" }, step.ok ? "✓" : "✗"),
        h("strong", {}, STEP_NAMES[step.name] || step.name),
        step.detail ? ` ${step.detail}` : "",
        step.error ? h("div", { className: "step-error" }, step.error) : null,
      ),
    );
  }
  target.append(list);
  for (const warning of result.warnings || []) target.append(h("p", { className: "warning" }, warning));
}

const STEP_NAMES = {
  configure: "Prepare the connection",
  resolve: "Find the server",
  connect: "Connect",
  tls: "Secure connection",
  authenticate: "Sign in",
  folder: "Open the folder",
  messages: "Read the messages",
  send: "Send the message",
};

export const STATUS_LABELS = {
  ok: "OK",
  error: "Error",
  disabled: "Disabled",
  unknown: "Not polled yet",
  warning: "Warning",
};

export function statusLozenge(status) {
  return h("span", { className: `lozenge ${status}` }, STATUS_LABELS[status] || status);
}

/**
 * The admin's time zone, for "today": the Jira user's (AP.user.getTimeZone, which is the
 * site's unless they chose their own), else the browser's.
 */
export function timeZone() {
  return new Promise((resolve) => {
    const browser = () => resolve(Intl.DateTimeFormat().resolvedOptions().timeZone || "");
    if (!window.AP || !window.AP.user || !window.AP.user.getTimeZone) return browser();
    window.AP.user.getTimeZone((zone) => (zone ? resolve(zone) : browser()));
  });
}

/** A chosen file's bytes in base64 (how the API takes an .eml). */
export function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function presets() {
  return JSON.parse(document.getElementById("presets").textContent);
}
