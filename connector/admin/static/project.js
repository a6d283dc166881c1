// Project settings: which mail sources feed this project, by which addresses, and their state.

import { api, h, showBanner, statusLozenge, timeZone, when } from "./app.js";

const $ = (id) => document.getElementById(id);
const projectKey = document.body.dataset.projectKey;

/** One way mail reaches the project, in words. */
function route(address) {
  const type = address.issue_type ? ` → ${address.issue_type}` : "";
  if (address.kind === "all") return `all its mail${type}`;
  if (address.kind === "unrouted") return `mail no address rule matches${type}`;
  if (address.kind === "plus") return `mail to ${address.pattern}${type}`;
  if (address.match === "regex") return `mail to addresses matching ${address.pattern}${type}`;
  return `mail to ${address.pattern}${type}`;
}

/**
 * The project's feeds with each source's polling state: one call, which project
 * administrators may make too (the sources list is for Jira administrators). Versions without
 * the feeds endpoint answer 404: the sources whose own project this is are shown instead.
 */
async function feeds() {
  const zone = encodeURIComponent(await timeZone());
  const answer = await api("GET", `/projects/${encodeURIComponent(projectKey)}/feeds?tz=${zone}`);
  if (answer.ok) {
    return answer.data.feeds.map((feed) => ({ ...feed, routes: feed.addresses.map(route) }));
  }
  if (answer.status !== 404) {
    showBanner(answer.data.error);
    return null;
  }
  const all = await api("GET", `/mail-sources?tz=${zone}`);
  if (!all.ok) {
    showBanner(all.data.error);
    return null;
  }
  return all.data.sources
    .filter((source) => source.project_key === projectKey)
    .map((source) => ({
      source_id: source.id,
      source_name: source.name,
      mailbox: source.username,
      status: source.status,
      status_message: source.status_message,
      last_poll_at: source.last_poll_at,
      messages_today: source.messages_today,
      routes: [`all its mail → ${source.issue_type}`],
    }));
}

function feedRow(feed) {
  const status = h("td", {}, statusLozenge(feed.status));
  if (feed.status === "error" && feed.status_message) {
    status.append(h("div", { className: "status-message" }, feed.status_message));
  }
  return h("tr", { dataset: { sourceId: feed.source_id } },
    h("td", {}, h("strong", {}, feed.source_name)),
    h("td", {}, feed.mailbox),
    h("td", {}, feed.routes.map((text) => h("div", {}, text))),
    status,
    h("td", {}, when(feed.last_poll_at)),
    h("td", { className: "number" }, String(feed.messages_today ?? "—")));
}

async function start() {
  const found = await feeds();
  if (!found) return;
  $("feeds-empty").hidden = found.length > 0;
  $("feeds-table").hidden = found.length === 0;
  $("feeds-body").replaceChildren(...found.map(feedRow));
}

start();
