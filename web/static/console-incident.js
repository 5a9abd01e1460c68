// One incident, as a PR manager works it: why it has its tier (signals and points, the re-tier history), the
// drafted scripts and their state, a volume + negative-share timeline, who carries the story, the plan's
// checklist, and the mentions (paged, reposts folded).  Every server text goes in through textContent (h()).
import { api, button, can, flash, h, lang, listOf, t, table, time } from "./dom.js";
import { timeline } from "./charts.js";
import { alertsView } from "./console-admin.js";
import { live } from "./console-live.js";
import { acknowledgement } from "./console-inbox.js";

const TIERS = ["P1", "P2", "P3", "P4"];
const PAGE = 20;
const sameId = (a, b) => a != null && String(a) === String(b);
const who = (inc, actor) => (actor && inc.actors && inc.actors[actor]) || String(actor || "").replace(/^user:/, "");
const count = (n) => Number(n || 0).toLocaleString(lang);
const fixed = (v, digits = 1) => (Number.isFinite(Number(v)) ? Number(v).toFixed(digits) : "");
const authority = (code) => (code ? t(`authority.${code}`) : "");
const categories = (codes) => (codes || []).map((c) => t(`category.${c}`)).join(lang === "en" ? ", " : "、");
const comma = () => (lang === "en" ? ", " : "，");
const colon = () => (lang === "en" ? ": " : "：");

function duration(seconds) {
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 120) return t("incident.age.minutes", { n: minutes });
  const hours = Math.round(minutes / 60);
  return hours < 48 ? t("incident.age.hours", { n: hours }) : t("incident.age.days", { n: Math.round(hours / 24) });
}

function reach(n) {
  if (!n) return "";
  const short = (value, unit) => `${Number(value.toFixed(1))}${unit}`;
  if (lang === "en") return n >= 1e6 ? short(n / 1e6, "M") : n >= 1e4 ? short(n / 1e3, "K") : count(n);
  return n >= 1e8 ? short(n / 1e8, "亿") : n >= 1e4 ? `${Math.round(n / 1e4)}万` : count(n);
}

function scriptBadge(state) {
  return h("span", { class: `script-state st-${state}` }, t(`script.state.${state}`));
}

// -- why this tier -------------------------------------------------------------------
function signalValue(part, why) {
  switch (part.signal) {
    case "negativity": return `${Math.round(Number(part.value) * 100)}%`;
    case "category": return categories(part.value);
    case "authority": return part.detail ? t("value.authority", { authority: authority(part.value), entry: part.detail })
      : authority(part.value);
    case "reach": return t("value.reach", { n: reach(part.value) });
    case "volume": return t("value.volume", { n: part.value });
    case "velocity": return why && why.previous_1h != null
      ? t("value.velocity_counts", { prev: count(why.previous_1h), n: count(why.volume_1h) })
      : t("value.velocity", { x: fixed(part.value) });
    default: return String(part.value ?? "");
  }
}

function inputLine(item) {
  const tier = item.tier || "—";
  let line;
  if (item.signal === "model") line = t("why.input.model", { tier });
  else if (item.signal === "mention_tier") line = t("why.input.mention_tier", { tier });
  else if (item.tier) line = t("why.input.volume_rule", { n: item.value, tier });
  else line = t("why.input.volume_rule_none", { n: item.value });
  const extra = [];
  if (item.signal === "volume_rule") {
    const next = Object.entries(item.thresholds || {}).filter(([k]) => !item.tier || TIERS.indexOf(k) < TIERS.indexOf(item.tier))
      .sort((a, b) => TIERS.indexOf(b[0]) - TIERS.indexOf(a[0]))[0];
    if (next) extra.push(t("why.volume_next", { tier: next[0], min: next[1] }));
  }
  if (item.signal === "mention_tier" && item.mention) {
    const m = item.mention;
    extra.push(` — ${m.author || m.source || ""}${colon()}${String(m.title || m.text || "").slice(0, 60)}`);
  }
  return h("li", { class: `why-input${item.decisive ? " decisive" : ""}`, "data-signal": item.signal },
    line, ...extra, item.decisive ? h("span", { class: "tag" }, t("why.decisive")) : null);
}

function whyTier(inc) {
  const why = inc.tier_why;
  const section = h("section", { class: "why", id: "why" }, h("h2", {}, t("why.title", { tier: inc.tier })));
  if (!why) { section.append(h("p", { class: "muted" }, t("why.none"))); return section; }
  const inputs = why.inputs || [];
  const model = inputs.find((i) => i.signal === "model");
  if (why.manual) {
    section.append(h("p", { class: "manual" }, t("why.manual", { tier: why.manual.tier, who: who(inc, why.manual.actor),
      when: time(why.manual.at) }), why.manual.reason ? ` · ${t("why.manual_reason", { reason: why.manual.reason })}` : ""),
    h("p", { class: "muted small" }, t("why.manual_auto", { tier: why.auto })));
  }
  const thresholds = (model && model.thresholds) || {};
  section.append(h("p", { class: "summary" }, model
    ? t("why.auto", { tier: why.auto, score: fixed(model.score, 0), p1: thresholds.P1, p2: thresholds.P2, p3: thresholds.P3 })
    : t("why.auto_plain", { tier: why.auto })));
  if (model && (model.parts || []).length) {
    const rows = model.parts.map((p) => [t(`signal.${p.signal}`), signalValue(p, why), `+${fixed(p.points)}`]);
    rows.push([h("strong", {}, t("why.total")), "", h("strong", {}, fixed(model.score))]);
    const grid = table([t("why.signal"), t("why.value"), t("why.points")], rows);
    grid.classList.add("signals");
    section.append(grid);
    if (model.exposure_factor < 1) {
      section.append(h("p", { class: "muted small" }, t("why.factor", { pct: Math.round(model.exposure_factor * 100) })));
    }
  }
  const notes = [];
  if (why.spike) notes.push(h("li", { "data-signal": "spike" }, t("why.spike")));
  if (why.held) notes.push(h("li", { "data-signal": "held" }, t("why.held", { tier: why.held })));
  section.append(h("p", { class: "small" }, t("why.inputs")), h("ul", { class: "why-inputs small" }, inputs.map(inputLine), notes));
  return section;
}

function history(inc) {
  const rows = inc.tier_history || [];
  const section = h("section", { class: "tier-history" }, h("h2", {}, t("history.title")));
  if (!rows.length) { section.append(h("p", { class: "muted" }, t("history.none"))); return section; }
  section.append(h("ol", { class: "history" }, rows.map((row) => {
    const model = ((row.why && row.why.inputs) || []).find((i) => i.signal === "model");
    const top = model ? (model.parts || []).slice(0, 3).map((p) => `${t(`signal.${p.signal}`)} +${fixed(p.points, 0)}`).join(comma()) : "";
    const step = row.previous
      ? h("span", {}, h("span", { class: `tier-badge tier-${row.previous}` }, row.previous), " → ",
        h("span", { class: `tier-badge tier-${row.tier}` }, row.tier))
      : t("history.opened", { tier: row.tier });
    const by = row.actor === "auto" ? t("history.auto") : who(inc, row.actor);
    const because = row.actor === "auto" ? (model ? `${t("why.input.model", { tier: model.tier })}${comma()}${fixed(model.score, 0)}${colon()}${top}` : "")
      : row.reason || "";
    return h("li", {}, h("span", { class: "muted small" }, time(row.at)), " ", step, " · ", by,
      because ? h("span", { class: "small" }, ` · ${because}`) : null);
  })));
  return section;
}

// -- scripts, timeline, authors, checklist --------------------------------------------------
function scripts(inc) {
  const list = inc.scripts || [];
  return h("section", { class: "incident-scripts" }, h("h2", {}, t("incident.scripts")),
    list.length ? h("ul", { class: "scripts-linked" }, list.map((s) => h("li", { "data-script": s.id },
      can("scripts") ? h("a", { href: `#/scripts/${encodeURIComponent(s.id)}` }, s.title || `#${s.id}`)
        : h("span", {}, s.title || `#${s.id}`), " ",
      s.state ? scriptBadge(s.state) : null,
      s.version ? h("span", { class: "muted small" }, ` v${s.version}`) : null,
      s.priority ? h("span", { class: "muted small" }, ` · ${t(`priority.${s.priority}`)}`) : null, " ",
      can("scripts") ? h("a", { class: "button small", href: `#/scripts/${encodeURIComponent(s.id)}` }, t("incident.scripts.open"))
        : null)))
      : h("p", { class: "muted" }, t("incident.scripts.none")));
}

function chart(inc) {
  const window = inc.timeline_window || {};
  const bucket = window.bucket_s || 3600;
  const points = (inc.timeline || []).map((p) => ({ t: p.t, volume: p.mentions,
    negative: p.negative_share ?? (p.mentions ? (p.negative || 0) / p.mentions : null) }));
  return h("section", {}, h("h2", {}, t("incident.timeline")),
    h("div", { class: "chart" },
      timeline(points, { bucket, start: window.start, end: window.end, locale: lang,
        labels: { negative: t("incident.negative"), title: t("incident.chart_summary", { title: t("incident.timeline"),
          n: points.length, size: duration(bucket), max: Math.max(0, ...points.map((p) => p.volume || 0)) }) } }),
      h("p", { class: "legend small" }, h("span", { class: "key bar" }, t("incidents.volume")), " ",
        h("span", { class: "key negative" }, t("incident.negative")), " · ",
        h("span", { class: "bucket" }, t("incident.bucket", { size: duration(bucket) })))));
}

function authors(inc) {
  const list = inc.top_authors || [];
  const sources = inc.top_sources || [];
  return h("section", { class: "carriers" },
    h("h2", {}, t("incident.authors")),
    list.length ? table([t("col.author"), t("col.authority"), t("col.reach"), t("col.mentions"), t("col.negative"),
      t("col.reposts"), t("col.source")], list.map((a) => [a.author, authority(a.authority), reach(a.reach),
      count(a.mentions), count(a.negative), count(a.reposts), (a.sources || []).join("、")]))
      : h("p", { class: "muted" }, t("common.none")),
    h("h2", {}, t("incident.sources")),
    table([t("col.source"), t("col.mentions"), t("col.negative"), t("col.reach")],
      sources.map((s) => [s.source, count(s.mentions), count(s.negative), reach(s.reach)])));
}

function checklist(inc, id, rerender) {
  const items = inc.checklist || [];
  const section = h("section", { class: "plan-checklist" },
    h("h2", {}, items.length ? t("incident.checklist", { plans: (inc.plans || []).join("、") }) : t("routing.plans")));
  if (!items.length) { section.append(h("p", { class: "muted" }, t("incident.checklist.none"))); return section; }
  section.append(h("ul", { class: "checklist" }, items.map((c) => {
    const box = h("input", { type: "checkbox", checked: c.done, id: `check-${c.id}` });
    box.addEventListener("change", async () => {
      try {
        await api("POST", `/api/incidents/${encodeURIComponent(id)}/checklist/${c.id}`, { done: box.checked });
        await rerender();
      } catch (err) { flash(err.message, "error"); box.checked = !box.checked; }
    });
    return h("li", { class: c.done ? "done" : "" }, box, h("label", { for: `check-${c.id}`, class: "inline-label" }, c.item),
      c.done ? h("span", { class: "muted small done-by" },
        ` ✓ ${t("incident.checklist.done", { who: who(inc, c.done_by), when: time(c.done_at) })}`) : null);
  })));
  return section;
}

// -- mentions ------------------------------------------------------------------------------
function mentionItem(m) {
  let reasons = m.reasons || [];
  if (typeof reasons === "string") { try { reasons = JSON.parse(reasons); } catch (err) { reasons = [reasons]; } }
  const sentiment = h("select", { "aria-label": t("incident.correct.sentiment") },
    ["negative", "neutral", "positive"].map((s) => h("option", { value: s, selected: s === m.sentiment }, t(`sentiment.${s}`))));
  const byline = [m.author || t("incident.no_author"), m.authority && m.authority !== "ordinary" ? authority(m.authority) : "",
    m.author_reach ? t("value.reach", { n: reach(m.author_reach) }) : "", m.source || "", time(m.published_at || m.fetched_at)]
    .filter(Boolean).join(" · ");
  return h("li", { class: `mention sentiment-${m.sentiment || "unknown"}`, "data-mention": m.id },
    h("div", {}, m.title ? h("strong", {}, m.title) : null, m.title ? " " : null,
      h("span", { class: "small byline" }, byline),
      m.url && /^https?:\/\//.test(m.url) ? h("a", { href: m.url, rel: "noopener noreferrer", target: "_blank", class: "small" }, " ↗") : null),
    m.text && m.text !== m.title ? h("p", { class: "mention-text" }, String(m.text).slice(0, 280)) : null,
    h("div", { class: "small mention-meta" }, h("span", {}, `${t(`sentiment.${m.sentiment || "neutral"}`)} `
      + (m.negative_probability != null ? `(${Math.round(m.negative_probability * 100)}%)` : "")
      + ((m.categories || []).length ? ` · ${categories(m.categories)}` : "")),
    reasons.length ? h("details", {}, h("summary", {}, t("incident.reasons")), h("ul", {}, reasons.map((r) => h("li", {}, String(r))))) : null,
    can("corrections") ? h("span", { class: "correct" }, sentiment, button(t("incident.correct"), async () => {
      await api("POST", "/api/console/corrections", { mention_id: m.id, field: "sentiment", value: sentiment.value });
      flash(t("incident.correct.saved"));
    })) : null));
}

// The folded reposts of one original: a toggle that loads them (50 at a time) under it.
function repostsToggle(id, m) {
  const list = h("ul", { class: "mentions reposts", hidden: true });
  let after = null, loaded = false;
  const label = t("incident.reposts", { n: count(m.reposts) });
  const more = button(t("incident.reposts.more"), () => load());
  more.hidden = true;
  async function load() {
    const query = after ? `?after=${after}` : "";
    const page = await api("GET", `/api/incidents/${encodeURIComponent(id)}/mentions/${m.group}/reposts${query}`);
    list.append(...listOf(page, "items").map(mentionItem));
    after = page.next_after;
    more.hidden = !after;
    loaded = true;
  }
  const toggle = button(label, async () => {
    if (!loaded) await load();
    list.hidden = !list.hidden;
    toggle.textContent = list.hidden ? label : t("incident.reposts.hide");
    more.hidden = list.hidden || !after;
  }, "link reposts-toggle");
  return h("div", { class: "folded" }, toggle, list, more);
}

function mentionsSection(id) {
  const summary = h("p", { class: "muted small mentions-total" });
  const list = h("ul", { class: "mentions" });
  const more = button(t("incident.more"), () => load(true), "load-more");
  let before = null;
  async function load(next) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (next && before) query.set("before", String(before));
    const page = await api("GET", `/api/incidents/${encodeURIComponent(id)}/mentions?${query}`);
    const items = listOf(page, "items").map((m) => {
      const item = mentionItem(m);
      if (m.reposts > 0) item.append(repostsToggle(id, m));
      return item;
    });
    if (next) list.append(...items); else list.replaceChildren(...items);
    before = page.next_before;
    more.hidden = !before;
    summary.textContent = t("incident.mentions.total", { total: count(page.total), groups: count(page.groups),
      reposts: count(page.total - page.groups) });
  }
  const section = h("section", { class: "incident-mentions" }, h("h2", {}, t("incident.mentions")), summary, list, more);
  // A live refresh reloads the first page only while nobody paged further or opened reposts.
  section.refresh = async () => { if (!list.querySelector(".reposts:not([hidden])") && list.children.length <= PAGE) await load(false); };
  return section;
}

// -- the view ------------------------------------------------------------------------------------
export async function incidentView(root, id) {
  const top = h("div", { class: "incident-top" });
  const mentions = mentionsSection(id);
  const alerts = h("div");
  root.replaceChildren(top, mentions, alerts);
  let first = true;
  let scriptIds = [];
  async function render() {
    let inc;
    try { inc = await api("GET", `/api/incidents/${encodeURIComponent(id)}`); } catch (err) {
      if (first) throw err;
      flash(err.message, "error");
      return;
    }
    scriptIds = inc.script_ids || [];
    const act = (action, body) => async () => {
      await api("POST", `/api/incidents/${encodeURIComponent(id)}/${action}`, body);
      flash(t("common.saved"));
      await render();
    };
    const ackComment = h("input", { name: "ack-comment", maxlength: "500", placeholder: t("inbox.comment"),
      "aria-label": t("inbox.comment") });
    const tierSelect = h("select", { "aria-label": t("incident.retier") },
      TIERS.map((tier) => h("option", { value: tier, selected: tier === inc.tier }, t(`tier.${tier}`))));
    const reason = h("input", { type: "text", maxlength: 500, placeholder: t("incident.retier.reason"),
      "aria-label": t("incident.retier.reason"), class: "retier-reason" });
    const age = (inc.state === "resolved" ? inc.resolved_at : Date.now() / 1000) - inc.opened_at;
    top.replaceChildren(
      h("p", {}, h("a", { href: "#/incidents" }, `← ${t("nav.incidents")}`)),
      h("h1", {}, h("span", { class: `tier-badge tier-${inc.tier}` }, inc.tier), " ", inc.title || `#${id}`),
      h("p", { class: "muted" }, `${t(`state.${inc.state}`)} · ${count(inc.mention_count)} ${t("incidents.mentions")} · `
        + `${t("incident.negative")} ${Math.round((inc.negative_share || 0) * 100)}% · `
        + t("incident.opened", { when: time(inc.opened_at), age: duration(age) })),
      acknowledgement(inc) || "", // replaceChildren would write a null out as the text "null"
      h("div", { class: "actions" },
        inc.state === "open" ? ackComment : null,
        inc.state === "open" ? button(t("incident.ack"), () => act("ack", { comment: ackComment.value })(), "primary") : null,
        button(t("incident.mitigate"), act("mitigate")),
        button(t("incident.resolve"), act("resolve")),
        h("span", { class: "retier" }, tierSelect, reason,
          button(t("incident.retier"), () => act("retier", { tier: tierSelect.value, reason: reason.value })()))),
      h("div", { class: "incident-grid" }, h("div", {}, whyTier(inc), history(inc)), h("div", {}, scripts(inc), checklist(inc, id, render))),
      chart(inc),
      authors(inc));
    if (first) await mentions.refresh(); else await mentions.refresh().catch(() => {});
    first = false;
    alerts.replaceChildren(h("h2", {}, t("incident.alerts")), await alertsView(h("div"), { incident: id, embedded: true }));
  }
  // A live refresh waits while the manager is typing or choosing in this view (a re-tier reason, a correction).
  const busy = () => {
    const active = document.activeElement;
    return Boolean(active && root.contains(active) && active.matches("input:not([type=checkbox]), select, textarea"))
      || [...root.querySelectorAll(".retier-reason, input[name=ack-comment]")].some((input) => input.value);
  };
  await live.follow({
    kinds: ["incident", "alert", "script"], poll: 10000, delay: 1000, guard: () => !busy(),
    match: (kind, data) => (kind === "incident" ? sameId(data.id, id)
      : kind === "script" ? scriptIds.some((s) => sameId(s, data.id)) : (data.incidents || []).some((i) => sameId(i, id))),
  }, render).now();
}
