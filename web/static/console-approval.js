// The four-eyes approval of one script version as the console shows it: what is still missing
// (how many approvers, from which team), who its authors are (they cannot approve), and the
// approve / reject buttons - the approve button disabled, with the reason, for whoever may not approve.
import { api, button, flash, h, lang, t } from "./dom.js";

const sid = (id) => encodeURIComponent(id);

// ["service", "*", "*"] -> "service 团队 1 人、任意团队 2 人" / "1 from team service, 2 from any team".
export function missingText(missing) {
  const counts = new Map();
  for (const slot of missing || []) counts.set(slot, (counts.get(slot) || 0) + 1);
  return [...counts.entries()].map(([slot, count]) => (slot === "*"
    ? t("approval.any_team", { count }) : t("approval.team", { team: slot, count }))).join(t("approval.sep"));
}

// The "still needed" sentence of a version; "" when nothing is needed.
export function progressText(script) {
  const a = script.approval;
  if (!a) return "";
  if (script.state === "approved") return t("approval.complete");
  if (script.state !== "in_review" && script.state !== "draft") return "";
  const needed = t("approval.needs", { count: a.missing.length, who: missingText(a.missing) });
  return script.state === "draft" ? `${t("approval.after_submit")}${needed}`
    : `${t("approval.given", { given: a.approved, required: a.required.length })} · ${needed}`;
}

function reasonOf(approval) {
  return (lang === "en" ? approval.reason : approval.reason_zh) || approval.reason;
}

export function approvalBlock(script) {
  const authors = (script.authors || []).map((a) => a.display_name || a.name);
  return h("div", { class: "approval-status" },
    h("p", { class: "approval-progress" }, progressText(script)),
    authors.length ? h("p", { class: "muted small approval-authors" },
      t("approval.authors", { names: authors.join("、") })) : null);
}

// Who wrote the version, by the name people see (a plan's name when a plan drafted it).
function writer(script) {
  const person = (script.authors || []).find((a) => a.id === script.author_id);
  return (person && (person.display_name || person.name)) || script.author || "";
}

export function reviewCard(script, after, previousOf, renderDiff, stateBadge) {
  const comment = h("textarea", { rows: 2, "aria-label": t("scripts.comment"), placeholder: t("scripts.comment") });
  const previous = previousOf(script);
  const approval = script.approval || {};
  const decide = (action) => async () => {
    await api("POST", `/api/scripts/${sid(script.id)}/${action}`, { version: script.version, comment: comment.value });
    if (action === "approve") {
      const now = await api("GET", `/api/scripts/${sid(script.id)}`);
      flash(now.state === "approved" ? t("approval.done_complete")
        : t("approval.done_partial", { who: missingText(now.approval && now.approval.missing) }));
    } else {
      flash(t("approval.done_rejected", { version: script.version }));
    }
    await after();
  };
  const approve = button(t("scripts.approve"), decide("approve"), "primary approve");
  const blocked = approval.can_approve === false;
  if (blocked) {
    approve.disabled = true;
    approve.title = reasonOf(approval);
    approve.setAttribute("aria-describedby", `approve-reason-${script.id}`);
  }
  const reject = button(t("scripts.reject"), decide("reject"), "danger reject");
  return h("article", { class: `card review prio-${script.priority}`, "data-script-id": script.id },
    h("h2", {}, h("a", { href: `#/scripts/${script.id}` }, script.title), " ", stateBadge(script.state)),
    h("p", { class: "muted small" }, `v${script.version} · ${t("scripts.author")} ${writer(script)} · ${t(`priority.${script.priority}`)}`),
    approvalBlock(script),
    h("h3", {}, t("scripts.diff")),
    h("div", { class: "diff-title" }, renderDiff(previous ? previous.title : "", script.title)),
    h("div", { class: "diff-body" }, renderDiff(previous ? previous.body : "", script.body)),
    (script.approvals || []).length ? h("ul", { class: "small approvals" }, script.approvals.map((a) =>
      h("li", {}, t("approval.entry", { name: a.approver_display_name || a.approver_name,
        team: a.approver_team || t("common.none"), decision: t(`approval.decision.${a.decision}`),
        comment: a.comment ? `：${a.comment}` : "" })))) : null,
    comment,
    h("div", { class: "actions" }, approve, reject),
    blocked ? h("p", { class: "muted small approve-reason", id: `approve-reason-${script.id}` }, reasonOf(approval)) : null);
}
