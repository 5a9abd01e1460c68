// Scripts (话术): list, editor with a live ticker preview, approval queue with a diff against
// the previous version, publish / retract, coverage and the audit trail.
import { api, button, flash, h, listOf, me, t, table, time, unavailable } from "./dom.js";
import { renderDiff } from "./diff.js";

const PRIORITIES = ["critical", "high", "normal"];
const sid = (id) => encodeURIComponent(id);

function stateBadge(state) {
  return h("span", { class: `script-state st-${state}` }, t(`script.state.${state}`));
}

export async function refreshApprovalBadge() {
  const badge = document.getElementById("approval-count");
  try {
    const waiting = listOf(await api("GET", "/api/scripts?state=in_review"), "scripts", "items");
    badge.textContent = String(waiting.length);
    badge.hidden = waiting.length === 0;
  } catch (err) {
    badge.hidden = true;
  }
}

export async function scriptsView(root) {
  const scripts = listOf(await api("GET", "/api/scripts"), "scripts", "items");
  root.replaceChildren(
    h("h1", {}, t("nav.scripts")),
    h("p", {}, h("a", { class: "button primary", href: "#/scripts/new" }, t("scripts.new"))),
    scripts.length ? table([t("scripts.title"), t("scripts.priority"), t("scripts.state"), t("scripts.version"), t("scripts.author"), ""],
      scripts.map((s) => [h("a", { href: `#/scripts/${s.id}` }, s.title), t(`priority.${s.priority}`), stateBadge(s.state),
        `v${s.version}${s.live_version ? ` (live v${s.live_version})` : ""}`, s.author || "", time(s.created_at)]))
      : h("p", { class: "muted" }, t("scripts.empty")));
}

export async function approvalsView(root) {
  const waiting = listOf(await api("GET", "/api/scripts?state=in_review"), "scripts", "items");
  const cards = await Promise.all(waiting.map(async (s) => {
    const full = await api("GET", `/api/scripts/${sid(s.id)}`);
    return reviewCard(full, () => approvalsView(root));
  }));
  root.replaceChildren(h("h1", {}, t("nav.approvals")),
    cards.length ? h("div", { class: "stack" }, cards) : h("p", { class: "muted" }, t("scripts.queue.empty")));
  refreshApprovalBadge();
}

function previousOf(script) {
  const versions = script.versions || [];
  return versions.find((v) => v.version < script.version) || null;
}

function reviewCard(script, after) {
  const comment = h("textarea", { rows: 2, "aria-label": t("scripts.comment"), placeholder: t("scripts.comment") });
  const previous = previousOf(script);
  const own = script.author_id === me.id;
  const decide = (action) => async () => {
    await api("POST", `/api/scripts/${sid(script.id)}/${action}`, { version: script.version, comment: comment.value });
    flash(t("common.saved"));
    await after();
  };
  return h("article", { class: `card review prio-${script.priority}`, "data-script-id": script.id },
    h("h2", {}, h("a", { href: `#/scripts/${script.id}` }, script.title), " ", stateBadge(script.state)),
    h("p", { class: "muted small" }, `v${script.version} · ${t("scripts.author")} ${script.author || ""} · ${t(`priority.${script.priority}`)}`),
    h("h3", {}, t("scripts.diff")),
    h("div", { class: "diff-title" }, renderDiff(previous ? previous.title : "", script.title)),
    h("div", { class: "diff-body" }, renderDiff(previous ? previous.body : "", script.body)),
    (script.approvals || []).length ? h("ul", { class: "small" }, script.approvals.map((a) =>
      h("li", {}, `${a.approver_name} (${a.approver_team || "-"}) ${a.decision} ${a.comment || ""}`))) : null,
    own ? h("p", { class: "muted" }, t("scripts.four_eyes")) : null,
    comment,
    h("div", { class: "actions" },
      button(t("scripts.approve"), decide("approve"), "primary approve"),
      button(t("scripts.reject"), decide("reject"), "danger reject")));
}

function preview(title, body, priority) {
  // The same markup classes as the agents' ticker, rendered with textContent.
  return h("div", { class: "lt-root preview" }, h("div", { class: "lt-bar" },
    h("div", { class: "lt-viewport" }, h("div", { class: "lt-track preview-track" },
      h("span", { class: `lt-item lt-${priority}` }, h("span", { class: "lt-prio" }, t(`priority.${priority}`)), " ",
        h("span", { class: "lt-title" }, title), " ", h("span", { class: "lt-body" }, body))))));
}

export async function scriptView(root, id) {
  const script = id ? await api("GET", `/api/scripts/${sid(id)}`) : null;
  const title = h("input", { name: "title", maxlength: 120, required: true, value: script ? script.title : "" });
  const body = h("textarea", { name: "body", rows: 6, maxlength: 4000, required: true });
  body.value = script ? script.body : "";
  const priority = h("select", { name: "priority" }, PRIORITIES.map((p) =>
    h("option", { value: p, selected: script ? script.priority === p : p === "normal" }, t(`priority.${p}`))));
  const incident = h("input", { name: "incident_id", inputmode: "numeric", value: script && script.incident_id ? script.incident_id : "" });
  const teams = h("input", { name: "teams", placeholder: "queue-a, queue-b",
    value: script && script.audience && script.audience.teams ? script.audience.teams.join(", ") : "" });
  const shifts = h("input", { name: "shifts", placeholder: "早班, 夜班",
    value: script && script.audience && script.audience.shifts ? script.audience.shifts.join(", ") : "" });
  const minutes = h("input", { name: "expires", type: "number", min: 1, value: "" });
  const reviewHours = h("input", { name: "review_hours", type: "number", min: 0.25, step: 0.25, value: "" });
  const previewBox = h("div", { class: "preview-box", "aria-label": t("scripts.preview") });
  const update = () => previewBox.replaceChildren(preview(title.value, body.value, priority.value));
  for (const input of [title, body, priority]) input.addEventListener("input", update);
  update();

  const fields = () => {
    const out = { title: title.value, body: body.value, priority: priority.value };
    const names = teams.value.split(/[,，\s]+/).filter(Boolean);
    const shiftNames = shifts.value.split(/[,，\s]+/).filter(Boolean);
    out.audience = names.length || shiftNames.length ? { teams: names, shifts: shiftNames } : "everyone";
    if (incident.value.trim()) out.incident_id = Number(incident.value) || incident.value.trim();
    if (minutes.value) out.expires_at = Date.now() / 1000 + Number(minutes.value) * 60;
    if (reviewHours.value) out.review_by = Date.now() / 1000 + Number(reviewHours.value) * 3600;
    return out;
  };
  const save = async () => {
    const saved = script ? await api("PUT", `/api/scripts/${sid(script.id)}`, fields()) : await api("POST", "/api/scripts", fields());
    flash(t("common.saved"));
    const savedId = (saved.script || saved).id;
    if (location.hash !== `#/scripts/${savedId}`) location.hash = `#/scripts/${savedId}`; else await scriptView(root, savedId);
  };
  const act = (action, bodyFn) => async () => {
    await api("POST", `/api/scripts/${sid(script.id)}/${action}`, bodyFn ? bodyFn() : { version: script.version });
    flash(t("common.saved"));
    await scriptView(root, script.id);
  };
  const editor = h("form", { class: "editor stack", onsubmit: (e) => { e.preventDefault(); } },
    h("label", {}, t("scripts.title"), title),
    h("label", {}, t("scripts.body"), body),
    h("div", { class: "row" }, h("label", {}, t("scripts.priority"), priority), h("label", {}, t("scripts.incident"), incident),
      h("label", {}, t("users.team"), teams), h("label", {}, t("scripts.shifts"), shifts),
      h("label", {}, t("scripts.expires"), minutes), h("label", {}, t("scripts.review_hours"), reviewHours)),
    script && script.review_by ? h("p", { class: "muted small review-by" },
      `${t("scripts.review_by")}: ${time(script.review_by)}${script.review_by_default ? ` ${t("scripts.review_default")}` : ""}`) : null,
    h("h3", {}, t("scripts.preview")), previewBox,
    h("div", { class: "actions" },
      button(t("scripts.save"), save, "primary save"),
      script && script.state === "draft" ? button(t("scripts.submit"), act("submit"), "submit") : null,
      script && script.state === "approved" ? button(t("scripts.publish"), act("publish"), "primary publish") : null,
      script && (script.state === "published" || script.live_version) ? button(t("scripts.retract"), act("retract", () => ({ reason: "" })), "danger retract") : null));

  const parts = [h("p", {}, h("a", { href: "#/scripts" }, `← ${t("nav.scripts")}`)),
    h("h1", {}, script ? script.title : t("scripts.new"), " ", script ? stateBadge(script.state) : null), editor];
  if (script) {
    if (script.state === "in_review") parts.push(reviewCard(script, () => scriptView(root, script.id)));
    parts.push(h("h2", {}, t("scripts.coverage")), await coverageBlock(script));
    parts.push(h("h2", {}, t("scripts.audit")), await auditBlock(script));
  }
  root.replaceChildren(...parts);
}

async function coverageBlock(script) {
  try {
    const c = await api("GET", `/api/scripts/${sid(script.id)}/coverage`);
    const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v)}%`);
    const secs = (lat) => (lat && lat.median_s != null ? `${lat.median_s} s / p90 ${lat.p90_s} s` : "—");
    // "On shift" counts the targeted agents whose shift was on at publish (null: no [[shifts]] configured).
    const onShift = (b) => (b.on_shift == null ? "—"
      : `${b.on_shift} · ${t("coverage.seen")} ${pct(b.displayed_on_shift_pct)} · ${t("coverage.acked")} ${pct(b.acked_on_shift_pct)}`);
    const copies = (b) => t("coverage.copies_fmt", { copies: b.copies ?? 0, agents: b.copied_agents ?? 0 });
    const row = (label, b) => [label, String(b.connected ?? 0), onShift(b),
      `${b.displayed_connected ?? 0} (${pct(b.displayed_pct)}) · ${secs(b.display_latency)}`,
      `${b.acked_connected ?? 0} (${pct(b.acked_pct)}) · ${secs(b.ack_latency)}`, copies(b)];
    const rows = [row(`v${c.version}`, c), ...Object.entries(c.by_team || {}).map(([team, b]) => row(team || "—", b))];
    const versions = c.copies_by_version || [];
    return h("div", { class: "coverage" },
      table([t("users.team"), t("coverage.agents"), t("coverage.on_shift"), t("coverage.seen"), t("coverage.acked"),
        t("coverage.copied")], rows),
      c.on_shift_at != null ? h("p", { class: "muted small shifts-on" },
        t("coverage.shifts_on", { shifts: (c.shifts_on || []).join("、") || "—" })) : null,
      versions.length ? h("p", { class: "muted small copies-by-version" }, `${t("coverage.by_version")}: `,
        versions.map((v) => `v${v.version} ${t("coverage.copies_fmt", { copies: v.copies, agents: v.copied_agents })}`).join(" · ")) : null);
  } catch (err) {
    return unavailable(err);
  }
}

async function auditBlock(script) {
  try {
    const audit = await api("GET", `/api/scripts/${sid(script.id)}/audit`);
    const entries = listOf(audit, "entries");
    return h("div", {}, audit.chain_intact === false ? h("p", { class: "form-error" }, "audit chain broken") : null,
      table([t("alerts.time"), t("scripts.version"), "", t("scripts.author"), t("scripts.comment")],
        entries.map((e) => [time(e.at), `v${e.version}`, e.action, e.actor,
          e.detail && e.detail !== "{}" ? e.detail : ""])));
  } catch (err) {
    return unavailable(err);
  }
}
