// The manager console: a hash router over views.  Incidents live here; scripts and the
// administrative views are in their own modules.  Views refresh when the live stream (console-live.js)
// says something they show changed, and poll as before only while that stream is down.
import { api, button, flash, h, listOf, me, t, time, unavailable } from "./dom.js";
import { sparkline, timeline } from "./charts.js";
import { approvalsView, scriptsView, scriptView, refreshApprovalBadge } from "./console-scripts.js";
import { alertsView, routingView, usersView } from "./console-admin.js";
import { sourcesView } from "./console-sources.js";
import { meView } from "./console-me.js";
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

// -- incident detail -----------------------------------------------------------------
async function incidentView(root, id) {
  async function render() {
    let inc;
    try { inc = await api("GET", `/api/incidents/${encodeURIComponent(id)}`); } catch (err) { root.replaceChildren(unavailable(err)); return; }
    inc = inc.incident || inc;
    let mentions = inc.mentions || [];
    try { mentions = listOf(await api("GET", `/api/console/incidents/${encodeURIComponent(id)}/mentions`), "items"); } catch (err) { /* keep the detail's own list */ }
    const act = (action, body) => async () => {
      await api("POST", `/api/incidents/${encodeURIComponent(id)}/${action}`, body);
      flash(t("common.saved"));
      await render();
    };
    const tierSelect = h("select", { "aria-label": t("incident.retier") },
      TIERS.map((tier) => h("option", { value: tier, selected: tier === inc.tier }, t(`tier.${tier}`))));
    const points = (inc.timeline || []).map((p) => ({ t: p.hour ?? p.t, volume: p.mentions ?? p.volume,
      negative: (p.mentions ? (p.negative || 0) / p.mentions : null) }));
    root.replaceChildren(
      h("p", {}, h("a", { href: "#/incidents" }, `← ${t("nav.incidents")}`)),
      h("h1", {}, h("span", { class: `tier-badge tier-${inc.tier}` }, inc.tier), " ", inc.title || `#${id}`),
      h("p", { class: "muted" }, `${t(`state.${inc.state}`)} · ${inc.mention_count ?? 0} ${t("incidents.mentions")} · `
        + `${t("incident.negative")} ${Math.round((inc.negative_share || 0) * 100)}%`),
      h("div", { class: "actions" },
        button(t("incident.ack"), act("ack"), "primary"),
        button(t("incident.mitigate"), act("mitigate")),
        button(t("incident.resolve"), act("resolve")),
        h("span", { class: "retier" }, tierSelect, button(t("incident.retier"), () => act("retier", { tier: tierSelect.value })()))),
      h("h2", {}, t("incident.timeline")),
      h("div", { class: "chart" }, timeline(points, { labels: { title: t("incident.timeline") } }),
        h("p", { class: "legend small" }, h("span", { class: "key bar" }, t("incidents.volume")), " ",
          h("span", { class: "key negative" }, t("incident.negative")))),
      h("h2", {}, t("incident.mentions")),
      h("ul", { class: "mentions" }, mentions.map((m) => mentionItem(m))),
      checklist(inc, id, render),
      h("h2", {}, t("incident.alerts")),
      await alertsView(h("div"), { incident: id, embedded: true }));
  }
  await live.follow({
    kinds: ["incident", "alert"], poll: 10000, delay: 1000,
    match: (kind, data) => (kind === "incident" ? sameId(data.id, id) : (data.incidents || []).some((i) => sameId(i, id))),
  }, render).now();
}

function checklist(inc, id, rerender) {
  const items = inc.checklist || [];
  if (!items.length) return h("div");
  return h("section", {}, h("h2", {}, `${t("routing.plans")}: ${(inc.plans || []).join(", ")}`),
    h("ul", { class: "checklist" }, items.map((c) => {
      const box = h("input", { type: "checkbox", checked: c.done, id: `check-${c.id}` });
      box.addEventListener("change", async () => {
        try {
          await api("POST", `/api/incidents/${encodeURIComponent(id)}/checklist/${c.id}`, { done: box.checked });
          await rerender();
        } catch (err) { flash(err.message, "error"); box.checked = !box.checked; }
      });
      return h("li", {}, box, h("label", { for: `check-${c.id}`, class: "inline-label" }, c.item,
        c.done_by ? h("span", { class: "muted small" }, ` ✓ ${c.done_by}`) : null));
    })));
}

function mentionItem(m) {
  let reasons = m.reasons || [];
  if (typeof reasons === "string") { try { reasons = JSON.parse(reasons); } catch (err) { reasons = [reasons]; } }
  const sentiment = h("select", { "aria-label": t("incident.correct.sentiment") },
    ["negative", "neutral", "positive"].map((s) => h("option", { value: s, selected: s === m.sentiment }, t(`sentiment.${s}`))));
  return h("li", { class: `mention sentiment-${m.sentiment || "unknown"}` },
    h("div", {}, h("strong", {}, m.title || ""), " ", h("span", { class: "muted small" }, `${m.source || ""} · ${time(m.published_at)}`),
      m.url && /^https?:\/\//.test(m.url) ? h("a", { href: m.url, rel: "noopener noreferrer", target: "_blank", class: "small" }, " ↗") : null),
    m.text ? h("p", { class: "small" }, String(m.text).slice(0, 280)) : null,
    h("div", { class: "small" }, `${t(`sentiment.${m.sentiment || "neutral"}`)} `
      + (m.negative_probability != null ? `(${Math.round(m.negative_probability * 100)}%)` : "")),
    reasons.length ? h("details", {}, h("summary", {}, t("incident.reasons")), h("ul", {}, reasons.map((r) => h("li", {}, String(r))))) : null,
    h("div", { class: "correct" }, sentiment, button(t("incident.correct"), async () => {
      await api("POST", "/api/console/corrections", { mention_id: m.id, field: "sentiment", value: sentiment.value });
      flash(t("incident.correct.saved"));
    })));
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
    const args = match.slice(1).map(decodeURIComponent);
    try {
      if (events) await followed(root, fn, args, events(...args)); else await fn(root, ...args);
    } catch (err) { root.replaceChildren(unavailable(err)); }
    return;
  }
}

document.body.classList.toggle("is-admin", me.role === "admin");
window.addEventListener("hashchange", route);
live.start(document.querySelector(".who"));
route();
// The approval badge follows script changes on every view (polled every 15 s only without the stream).
live.follow({ kinds: ["script"], poll: 15000, global: true }, refreshApprovalBadge).now();
