// Scripts (话术): list, editor with a live ticker preview, approval queue with a diff against
// the previous version, publish / retract, coverage and the audit trail.
import { api, button, flash, h, listOf, me, t, table, time, unavailable } from "./dom.js";
import { renderDiff } from "./diff.js";
import { approvalBlock, reviewCard as approvalCard } from "./console-approval.js";

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
        `v${s.version}${s.live_version ? ` ${t("scripts.live_fmt", { version: s.live_version })}` : ""}`, s.author || "", time(s.created_at)]))
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
  return approvalCard(script, after, previousOf, renderDiff, stateBadge);
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

  const splitNames = (input) => input.value.split(/[,，\s]+/).filter(Boolean);
  const fields = () => {
    const out = { title: title.value, body: body.value, priority: priority.value };
    const names = splitNames(teams), shiftNames = splitNames(shifts);
    // Skills and sites have no field here: an edit keeps the ones the script targets.
    const kept = script && script.audience && !script.audience.everyone
      ? { skills: script.audience.skills || [], sites: script.audience.sites || [] } : { skills: [], sites: [] };
    out.audience = names.length || shiftNames.length || kept.skills.length || kept.sites.length
      ? { teams: names, shifts: shiftNames, ...kept } : "everyone";
    if (incident.value.trim()) out.incident_id = Number(incident.value) || incident.value.trim();
    if (minutes.value) out.expires_at = Date.now() / 1000 + Number(minutes.value) * 60;
    if (reviewHours.value) out.review_by = Date.now() / 1000 + Number(reviewHours.value) * 3600;
    return out;
  };
  // What the form shows, normalised as the server stores it: unequal to the saved version means unsaved edits.
  const shown = () => JSON.stringify([title.value.trim(), body.value.replace(/\r\n/g, "\n").trim(), priority.value,
    splitNames(teams).sort(), splitNames(shifts).sort(), incident.value.trim(), minutes.value, reviewHours.value]);
  const savedShape = script ? JSON.stringify([script.title, script.body, script.priority,
    [...((script.audience && script.audience.teams) || [])].sort(), [...((script.audience && script.audience.shifts) || [])].sort(),
    script.incident_id ? String(script.incident_id) : "", "", ""]) : null;
  const dirty = () => !script || shown() !== savedShape;
  const persist = () => (script ? api("PUT", `/api/scripts/${sid(script.id)}`, fields()) : api("POST", "/api/scripts", fields()));
  const reopen = async (savedId) => {
    if (location.hash !== `#/scripts/${savedId}`) location.hash = `#/scripts/${savedId}`; else await scriptView(root, savedId);
  };
  const save = async () => {
    if (!dirty()) { flash(t("scripts.no_changes", { version: script.version })); return; }
    const saved = await persist();
    flash(t(script ? "scripts.saved_as" : "scripts.created", { version: saved.version }));
    await reopen(saved.id);
  };
  // Submit exactly what the manager sees: unsaved edits become a new version first, and the server
  // refuses the submission unless that version's content hash is the one sent.
  const submit = async () => {
    const edited = dirty();
    const target = edited ? await persist() : script;
    try {
      await api("POST", `/api/scripts/${sid(target.id)}/submit`, { version: target.version, content_hash: target.content_hash });
    } catch (err) {
      if (edited) { // saved but not submitted: show the saved version, and say both
        await reopen(target.id);
        err.message = t("scripts.saved_not_submitted", { version: target.version, error: err.message });
      }
      throw err;
    }
    flash(t(edited ? "scripts.saved_and_submitted" : "scripts.submitted", { version: target.version }));
    await reopen(target.id);
  };
  const publish = async () => {
    if (dirty()) { flash(t("scripts.unsaved_publish", { version: script.version }), "error"); return; }
    await api("POST", `/api/scripts/${sid(script.id)}/publish`, { version: script.version });
    flash(t("scripts.published_as", { version: script.version }));
    await scriptView(root, script.id);
  };
  const retract = async () => {
    await api("POST", `/api/scripts/${sid(script.id)}/retract`, { reason: "" });
    flash(t("scripts.retracted_done"));
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
      script && script.state === "draft" ? button(t("scripts.submit"), submit, "submit") : null,
      script && script.state === "approved" ? button(t("scripts.publish"), publish, "primary publish") : null,
      script && (script.state === "published" || script.live_version) ? button(t("scripts.retract"), retract, "danger retract") : null));

  const parts = [h("p", {}, h("a", { href: "#/scripts" }, `← ${t("nav.scripts")}`)),
    h("h1", {}, script ? script.title : t("scripts.new"), " ", script ? stateBadge(script.state) : null), editor];
  if (script) {
    if (script.state === "in_review") parts.splice(2, 0, reviewCard(script, () => scriptView(root, script.id)));
    else if (script.state === "draft" || script.state === "approved") parts.splice(2, 0, approvalBlock(script));
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
    // The first row is everyone the version targets; then one row per team (the column is the team's name).
    const rows = [row(t("coverage.all", { version: c.version }), c),
      ...Object.entries(c.by_team || {}).map(([team, b]) => row(team || t("coverage.no_team"), b))];
    const versions = c.copies_by_version || [];
    const people = c.people || [];
    return h("div", { class: "coverage" },
      people.length ? h("div", { class: "coverage-people" }, table([t("coverage.person"), t("users.team"),
        t("coverage.seen"), t("coverage.acked")],
      people.map((p) => [p.display_name, p.team || t("common.none"), time(p.displayed_at), time(p.acked_at)])))
        : h("p", { class: "muted coverage-nobody" }, t("coverage.nobody")),
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

const AUDIT_ACTIONS = ["create", "submit", "approve", "approve_partial", "reject", "publish", "retract", "expire",
  "supersede"];
const auditAction = (action) => (AUDIT_ACTIONS.includes(action) ? t(`audit.${action}`) : action);

// The entry's detail (stored as JSON) in words: a comment or reason as written, a superseding version.
function auditDetail(detail) {
  let data = {};
  try { data = typeof detail === "string" ? JSON.parse(detail || "{}") : detail || {}; } catch (err) { return String(detail); }
  return [data.comment, data.reason, data.by_version != null ? t("audit.by_version", { version: data.by_version }) : ""]
    .filter(Boolean).join(" · ");
}

async function auditBlock(script) {
  try {
    const audit = await api("GET", `/api/scripts/${sid(script.id)}/audit`);
    const entries = listOf(audit, "entries");
    return h("div", {}, audit.chain_intact === false ? h("p", { class: "form-error" }, "audit chain broken") : null,
      table([t("alerts.time"), t("scripts.version"), t("audit.action"), t("audit.actor"), t("common.comment")],
        entries.map((e) => [time(e.at), `v${e.version}`, auditAction(e.action), e.actor_display_name || e.actor,
          auditDetail(e.detail)])));
  } catch (err) {
    return unavailable(err);
  }
}
