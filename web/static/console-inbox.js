// 我的告警 / My alerts: the alerts that reached the signed-in person (to them, or naming them on a robot or
// e-mail channel), newest first, one card per incident, with acknowledge (+ a comment everyone sees).
// Only /api/alerts/inbox and /api/incidents/N/ack are called: both allowed to on-call and managers.
import { api, flash, h, t, time, unavailable } from "./dom.js";
import { live } from "./console-live.js";

function ackForm(item, refresh) {
  const comment = h("input", { name: "comment", maxlength: "500", placeholder: t("inbox.comment"),
    "aria-label": t("inbox.comment") });
  const submit = h("button", { type: "submit", class: "primary" }, t("inbox.ack"));
  const form = h("form", { class: "inbox-ack", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api("POST", `/api/incidents/${encodeURIComponent(item.incident_id)}/ack`, { comment: comment.value });
      flash(t("inbox.acked_flash"));
      await refresh();
    } catch (err) {
      flash(err.message || t("common.error"), "error");
      submit.disabled = false;
    }
  } }, comment, submit);
  return form;
}

export function acknowledgement(item) {
  if (!item.acknowledged_by) return null;
  const who = item.acknowledged_by_label || String(item.acknowledged_by).replace(/^user:/, "");
  return h("p", { class: "ack-note" }, t("inbox.acked", { who }),
    item.ack_comment ? h("span", { class: "ack-comment" }, `「${item.ack_comment}」`) : null);
}

function card(item, refresh) {
  const isIncident = item.incident_id != null;
  const head = h("div", { class: "card-head" },
    h("span", { class: `tier-badge tier-${item.tier}` }, item.tier || ""),
    isIncident ? h("span", { class: "state" }, t(`state.${item.state}`)) : h("span", { class: "state" }, t("inbox.health")));
  const title = isIncident
    ? h("a", { class: "card-title", href: `#/incidents/${item.incident_id}` }, `#${item.incident_id} ${item.title || ""}`)
    : h("div", { class: "card-title" }, item.title || "");
  const meta = h("div", { class: "muted small" },
    `${t("inbox.last")} ${time(item.at)} · ${t(`alertkind.${item.kind}`)} · ${t("inbox.via")} ${item.channel === "console" ? t("inbox.console") : item.channel}`
    + (item.count > 1 ? ` · ${t("inbox.count", { n: item.count })}` : ""));
  return h("article", { class: `card inbox-item state-${item.state || "none"}` }, head, title, meta,
    item.problem ? h("p", { class: "small" }, item.problem) : null,
    acknowledgement(item),
    isIncident && item.state === "open" ? ackForm(item, refresh) : null);
}

export async function inboxView(root) {
  const list = h("div", { class: "stack inbox" });
  root.replaceChildren(h("h1", {}, t("nav.inbox")), h("p", { class: "muted" }, t("inbox.hint")), list);
  async function refresh() {
    let items;
    try {
      items = (await api("GET", "/api/alerts/inbox")).items || [];
    } catch (err) {
      list.replaceChildren(unavailable(err));
      return;
    }
    list.replaceChildren(...(items.length ? items.map((item) => card(item, refresh))
      : [h("p", { class: "muted" }, t("inbox.empty"))]));
  }
  // New alerts and acknowledgements (by anyone) show up live; without the stream it polls every 10 s.
  await live.follow({ kinds: ["alert", "incident"], poll: 10000,
    guard: () => !root.contains(document.activeElement) || document.activeElement.tagName !== "INPUT" }, refresh).now();
}
