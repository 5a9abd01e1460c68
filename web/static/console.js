// The manager console: a hash router over views.  Incidents live here; scripts and the
// administrative views are in their own modules.  Views refresh when the live stream (console-live.js)
// says something they show changed, and poll as before only while that stream is down.
import { api, can, h, listOf, me, noPermission, t, time, unavailable } from "./dom.js";
import { sparkline } from "./charts.js";
import { incidentView } from "./console-incident.js";
import { approvalsView, scriptsView, scriptView, refreshApprovalBadge } from "./console-scripts.js";
import { alertsView, routingView, usersView } from "./console-admin.js";
import { sourcesView } from "./console-sources.js";
import { meView } from "./console-me.js";
import { inboxView } from "./console-inbox.js";
import { live } from "./console-live.js";

const TIERS = ["P1", "P2", "P3", "P4"];
const view = document.getElementById("view");
const sameId = (a, b) => a != null && String(a) === String(b);

// -- incident board --------------------------------------------------------------
async function boardView(root) {
  const board = h("div", { class: "board" });
  root.replaceChildren(h("h1", {}, t("nav.incidents")), board);
  async function refresh() {
    const incidents = listOf(await api("GET", "/api/incidents"), "incidents", "items");
    const ids = incidents.map((i) => i.id).join(",");
    let lines = {};
    if (ids) {
      try { lines = (await api("GET", `/api/console/sparklines?ids=${ids}`)).series || {}; } catch (err) { lines = {}; }
    }
    if (!incidents.length) { board.replaceChildren(h("p", { class: "muted" }, t("incidents.empty"))); return; }
    board.replaceChildren(...TIERS.map((tier) => {
      const column = incidents.filter((i) => i.tier === tier);
      return h("section", { class: `tier-column tier-${tier}` },
        h("h2", {}, t(`tier.${tier}`), h("span", { class: "count" }, String(column.length))),
        column.map((inc) => h("a", { class: `incident-card state-${inc.state}`, href: `#/incidents/${inc.id}` },
          h("div", { class: "card-head" }, h("span", { class: `tier-badge tier-${inc.tier}` }, inc.tier),
            h("span", { class: "state" }, t(`state.${inc.state}`))),
          h("div", { class: "card-title" }, inc.title || `#${inc.id}`),
          h("div", { class: "card-meta" },
            sparkline(lines[inc.id] || [], { label: t("incidents.volume") }),
            h("span", {}, `${inc.mention_count ?? inc.volume ?? 0} ${t("incidents.mentions")}`),
            h("span", {}, `${t("incident.negative")} ${Math.round((inc.negative_share || 0) * 100)}%`)),
          h("div", { class: "muted small" }, `${t("incidents.updated")} ${time(inc.last_mention_at || inc.updated_at)}`))));
    }));
  }
  // The board follows new mentions, re-tiering and state changes; it polls every 5 s only without the stream.
  await live.follow({ kinds: ["incident"], poll: 5000 }, refresh).now();
}

// -- router ------------------------------------------------------------------------
// The fourth entry: which live events re-render a view (views with forms skip it while someone types).
const scriptEvents = (id) => ({ kinds: ["script"], match: (kind, data) => sameId(data.id, id), edits: true });
const routes = [
  [/^#\/incidents\/([^/]+)$/, incidentView, "incidents"],
  [/^#\/scripts\/new$/, (root) => scriptView(root, null), "scripts"],
  [/^#\/scripts\/([^/]+)$/, scriptView, "scripts", scriptEvents],
  [/^#\/scripts$/, scriptsView, "scripts", () => ({ kinds: ["script"] })],
  [/^#\/approvals$/, approvalsView, "approvals", () => ({ kinds: ["script"], edits: true })],
  [/^#\/alerts$/, (root) => alertsView(root, {}), "alerts", () => ({ kinds: ["alert"] })],
  [/^#\/inbox$/, inboxView, "inbox"],
  [/^#\/sources$/, sourcesView, "sources", () => ({ kinds: ["source"], edits: true })],
  [/^#\/routing$/, routingView, "routing"],
  [/^#\/users$/, usersView, "users"],
  [/^#\/me$/, meView, "me"],
  [/^.*$/, boardView, "incidents"],
];

// A view whose events come from the table above: re-run it, unless the manager has typed into it since
// it was last drawn (by this refresh or by the view itself, e.g. after a save).
async function followed(root, fn, args, spec) {
  let typed = false;
  root.addEventListener("input", () => { typed = true; });
  new MutationObserver(() => { typed = false; }).observe(root, { childList: true });
  const { edits, ...rest } = spec;
  await live.follow({ ...rest, guard: () => !edits || !typed }, () => fn(root, ...args)).now();
}

async function route() {
  live.clearViews();
  // The language link keeps the current view.
  for (const a of document.querySelectorAll(".who a[href^='?lang=']")) a.href = `${a.href.split("#")[0]}${location.hash}`;
  const hash = location.hash || "#/incidents";
  for (const [pattern, fn, nav, events] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === nav);
    const root = h("div", { class: `view view-${nav}` });
    view.replaceChildren(root);
    if (!can(nav)) { // typed or bookmarked: say so, and ask the server nothing it would refuse
      root.replaceChildren(h("h1", {}, t(`nav.${nav}`)), noPermission());
      return;
    }
    const args = match.slice(1).map(decodeURIComponent);
    try {
      if (events) await followed(root, fn, args, events(...args)); else await fn(root, ...args);
    } catch (err) { root.replaceChildren(unavailable(err)); }
    return;
  }
}

document.body.classList.toggle("is-admin", me.role === "admin");
// Each role sees only the views it can use.
for (const a of document.querySelectorAll("[data-nav]")) a.hidden = !can(a.dataset.nav);
window.addEventListener("hashchange", route);
live.start(document.querySelector(".who"));
route();
// The approval badge follows script changes on every view (polled every 15 s only without the stream);
// only for those who approve scripts: on-call may not list scripts under review (a 403 on every page).
if (can("approvals")) {
  live.follow({ kinds: ["script"], poll: 15000, global: true }, refreshApprovalBadge).now();
}
