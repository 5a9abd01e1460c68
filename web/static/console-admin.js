// Alert deliveries, routing / plans / silences (admins edit routes and plans as JSON), users (fields, state,
// API tokens) and their contacts.
import { api, button, can, flash, h, listOf, me, t, table, time, unavailable } from "./dom.js";
import { showTokenOnce } from "./console-sources.js";

export async function alertsView(root, { incident, embedded } = {}) {
  let rows;
  try {
    const query = incident ? `?incident_id=${encodeURIComponent(incident)}` : "";
    rows = listOf(await api("GET", `/api/alerts${query}`), "alerts", "deliveries", "items");
  } catch (err) {
    root.replaceChildren(unavailable(err));
    return root;
  }
  const body = rows.length
    ? table([t("alerts.time"), t("alerts.kind"), t("alerts.recipient"), t("alerts.channel"), t("alerts.status"),
      t("alerts.error"), t("alerts.note")],
      rows.map((r) => [time(r.sent_at || r.created_at), t(`alertkind.${r.kind}`), r.recipient_label || r.recipient || "",
        h("span", {}, r.channel || "", r.must_act
          ? h("span", { class: "must-act", title: t("alerts.must_act_hint") }, ` · ${t("alerts.must_act")}`) : null),
        h("span", { class: `delivery st-${r.status}` }, t(`delivery.${r.status}`)),
        `${r.last_error || ""}${r.attempts > 1 ? ` (×${r.attempts})` : ""}`, r.note || ""]))
    : h("p", { class: "muted" }, t("alerts.empty"));
  root.replaceChildren(...(embedded ? [body] : [h("h1", {}, t("nav.alerts")), body]));
  return root;
}

const list = (v) => (Array.isArray(v) ? v.join(", ") : v == null ? "" : String(v));
const tierList = (tiers) => (tiers && tiers.length ? tiers.join("、") : t("routing.any"));
const categoryList = (cats) => (cats && cats.length ? cats.map((c) => t(`category.${c}`)).join("、") : t("routing.any"));
const minutes = (value) => (value == null ? "—" : t("routing.minutes", { n: value }));
// Seconds in the unit a person would say: 30 秒, 5 分钟, 4 小时.
const seconds = (value) => {
  if (value == null) return "—";
  if (value >= 3600 && value % 3600 === 0) return t("routing.hours", { n: value / 3600 });
  if (value >= 60 && value % 60 === 0) return t("routing.minutes", { n: value / 60 });
  return t("routing.seconds", { n: value });
};

// Who a route (or a plan's notify part) reaches, in words: roles by their names, then teams, people, channels.
function recipientsText(r) {
  const parts = [...(r.roles || []).map((role) => t(`role.${role}`)),
    ...(r.teams || []).map((team) => t("routing.team", { team })), ...(r.users || []),
    ...(r.channels || []).map((c) => t("routing.channel", { channel: c }))];
  return parts.join("、") || "—";
}

function routesTable(items) {
  return table([t("sources.name"), t("routing.tiers"), t("routing.categories"), t("routing.level"),
    t("routing.kind"), t("alerts.recipient")],
  // A default route filling a gap is named by what it is, in the page's language (its stored name is Chinese).
  items.map((r) => [r.builtin ? h("span", { class: "badge builtin" }, t("routing.builtin")) : r.name,
    tierList(r.tiers), `${categoryList(r.categories)}${(r.brands || []).length ? ` · ${r.brands.join("、")}` : ""}`,
    r.level ? t("routing.level_n", { n: r.level }) : t("routing.level_0"),
    [r.must_act ? t("routing.must_act") : t("routing.informed"), r.digest ? t("routing.digest") : "",
      r.health ? t("routing.health") : ""].filter(Boolean).join(" · "),
    recipientsText(r)]));
}

function channelsTable(channels) {
  return table([t("sources.name"), t("sources.kind"), t("routing.host"), t("routing.rate"), t("routing.signed")],
    channels.map((c) => [c.name, t(`channel.${c.kind}`), c.host || "—",
      c.per_minute ? t("routing.per_minute", { n: c.per_minute }) : "—", c.signed ? "✓" : ""]));
}

function timingList(data) {
  const rows = [
    [t("routing.group_wait"), seconds(data.timing.group_wait)],
    [t("routing.group_interval"), seconds(data.timing.group_interval)],
    [t("routing.repeat_interval"), seconds(data.timing.repeat_interval)],
    [t("routing.escalate"), Object.entries(data.escalate_minutes || {}).map(([k, v]) => `${k} ${minutes(v)}`).join("，") || "—"],
    [t("routing.remind"), Object.entries(data.remind_minutes || {}).map(([k, v]) => `${k} ${minutes(v)}`).join("，") || "—"],
    [t("routing.quiet_hours"), data.quiet_hours || t("common.none")],
    [t("routing.quiet_on_holidays"), data.quiet_on_holidays ? t("common.yes") : t("common.no")],
    [t("routing.digest_at"), data.digest_at || "—"],
  ];
  return h("dl", { class: "kv" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function planCard(p) {
  return h("div", { class: "card plan" }, h("h3", {}, p.name),
    h("dl", { class: "kv" },
      h("dt", {}, t("routing.tiers")), h("dd", {}, tierList(p.tiers)),
      h("dt", {}, t("routing.categories")), h("dd", {}, categoryList(p.categories)),
      (p.brands || []).length ? [h("dt", {}, t("routing.brands")), h("dd", {}, p.brands.join("、"))] : null,
      h("dt", {}, t("routing.notify")), h("dd", {}, p.notify ? recipientsText(p.notify) : t("common.none"))),
    (p.checklist || []).length ? [h("h4", {}, t("routing.checklist")), h("ol", {}, p.checklist.map((c) => h("li", {}, c)))] : null,
    (p.scripts || []).length ? [h("h4", {}, t("routing.templates")), h("ul", { class: "plan-scripts" },
      p.scripts.map((s) => h("li", {}, h("strong", {}, s.title), s.priority ? ` (${t(`priority.${s.priority}`)})` : "",
        h("p", { class: "small" }, s.body))))] : null);
}

export async function routingView(root) {
  const section = async (title, path, render, ...names) => {
    try {
      const data = await api("GET", path);
      return h("section", {}, h("h2", {}, title), render(data, listOf(data, ...names)));
    } catch (err) {
      return h("section", {}, h("h2", {}, title), unavailable(err));
    }
  };
  const calendar = (data) => [data.holiday_calendar?.error, data.holiday_calendar?.warning].filter(Boolean)
    .map((text) => h("p", { class: "form-error calendar-note", role: "alert" }, text));
  const coverage = (data) => (data.coverage || []).map((c) => h("p",
    { class: c.level === "warn" ? "form-error route-gap" : "muted route-note", role: c.level === "warn" ? "alert" : null }, c.text));
  const routes = (data, items) => h("div", {}, calendar(data), coverage(data),
    items.length ? routesTable(items) : h("p", { class: "muted" }, t("common.none")),
    (data.channels || []).length ? [h("h3", {}, t("routing.channels")), channelsTable(data.channels)] : null,
    data.timing ? [h("h3", {}, t("routing.timing")), timingList(data)] : null);
  const cards = (data, items) => (items.length
    ? h("div", { class: "stack" }, items.map(planCard))
    : h("p", { class: "muted" }, t("common.none")));
  const silences = (data, items) => h("div", {},
    items.length ? table([t("alerts.time"), t("routing.tiers"), t("common.comment"), t("routing.created_by"), ""],
      items.map((x) => [`${time(x.starts_at)} – ${time(x.ends_at)}${x.daily ? ` (${x.daily})` : ""}`,
        list((x.matchers || {}).tiers) || t("routing.any"), x.comment || "", x.created_by_name || x.created_by || "",
        button(t("silence.delete"), async () => {
          await api("DELETE", `/api/silences/${x.id}`);
          flash(t("common.saved"));
          await routingView(root);
        }, "danger")])) : h("p", { class: "muted" }, t("common.none")),
    silenceForm(() => routingView(root)));
  const editing = async (kind, path) => {
    if (!can("editRouting")) return null;
    try {
      const data = await api("GET", `/api/console/editable/${kind}`);
      return jsonEditor(kind, data[kind], path, () => routingView(root));
    } catch (err) {
      return unavailable(err);
    }
  };
  // replaceChildren would show a null as the text "null": editors only for those who may save.
  root.replaceChildren(...[h("h1", {}, t("nav.routing")),
    await section(t("routing.routes"), "/api/routing", routes, "routes"),
    await editing("routes", "/api/routing"),
    await section(t("routing.plans"), "/api/plans", cards, "items", "plans"),
    await editing("plans", "/api/plans"),
    await section(t("routing.silences"), "/api/silences", silences, "items", "silences")].filter(Boolean));
}

// Admins edit the routes or plans as a JSON list; the server validates and answers with the reason.
function jsonEditor(kind, value, path, after) {
  const error = h("p", { class: "form-error", role: "alert" });
  const area = h("textarea", { name: kind, rows: 14, spellcheck: "false", class: "json-editor",
    "aria-label": t(`routing.edit_${kind}`) });
  area.value = JSON.stringify(value || [], null, 2);
  const form = h("form", { class: `json-form edit-${kind}` }, area,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("common.save"))), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let parsed;
    try { parsed = JSON.parse(area.value); } catch (err) {
      error.textContent = `${t("routing.bad_json")}: ${err.message}`;
      return;
    }
    try {
      await api("PUT", path, { [kind]: parsed });
      flash(t("common.saved"));
      await after();
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  return h("details", { class: "editor" }, h("summary", {}, t(`routing.edit_${kind}`)), form);
}

function silenceForm(after) {
  const hours = h("input", { name: "hours", type: "number", min: 0.25, step: 0.25, value: "2", required: true });
  const tiers = ["P1", "P2", "P3", "P4"].map((tier) => h("label", { class: "inline-label" },
    h("input", { type: "checkbox", name: "tier", value: tier }), ` ${tier}`));
  const comment = h("input", { name: "comment", required: true });
  const form = h("form", { class: "row add-silence" },
    h("label", {}, t("silence.hours"), hours),
    h("fieldset", { class: "tiers" }, h("legend", {}, t("routing.tiers")), tiers),
    h("label", {}, t("common.comment"), comment),
    h("button", { type: "submit", class: "primary" }, t("silence.add")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll("input[name=tier]:checked")].map((x) => x.value);
    const now = Date.now() / 1000;
    try {
      await api("POST", "/api/silences", { starts_at: now, ends_at: now + Number(hours.value) * 3600,
        comment: comment.value, matchers: chosen.length ? { tiers: chosen } : {} });
      flash(t("common.saved"));
      await after();
    } catch (err) {
      flash(err.message, "error");
    }
  });
  return form;
}

// The account fields an admin sets, in form order: the add form, the edit form and the table's columns are
// built from this list, so one more entry adds a field everywhere (the server validates; PATCH /api/users/{id}).
// kind: "role" (a select of the roles), "list" (comma-separated names, sent as a list), default a text input.
export const USER_FIELDS = [
  { name: "role", label: "users.role", kind: "role" },
  { name: "display_name", label: "users.display" },
  { name: "team", label: "users.team" },
  { name: "skills", label: "users.skills", kind: "list", placeholder: "售后, 投诉" },
  { name: "site", label: "users.site" },
  { name: "shift", label: "users.shift", placeholder: "早班" },
];
const ROLES = ["agent", "manager", "oncall", "admin"];
const names = (text) => text.split(/[,，]/).map((x) => x.trim()).filter(Boolean);

function fieldInput(field, user) {
  if (field.kind === "role") {
    const select = h("select", { name: field.name }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
    select.value = (user && user.role) || "agent";
    return select;
  }
  const value = user ? user[field.name] : "";
  return h("input", { name: field.name, placeholder: field.placeholder || "",
    value: Array.isArray(value) ? value.join(", ") : value == null ? "" : String(value) });
}

function fieldValue(field, input) {
  return field.kind === "list" ? names(input.value) : input.value.trim();
}

function shown(field, user) {
  const value = user[field.name];
  if (field.kind === "role") return t(`role.${value}`);
  return Array.isArray(value) ? value.join(", ") : value == null ? "" : String(value);
}

export async function usersView(root, { all = false } = {}) {
  const list = listOf(await api("GET", `/api/users${all ? "?all=1" : ""}`), "items");
  const reload = () => usersView(root, { all });
  const panel = h("section", { class: "contacts-editor user-panel" });
  const open = async (content) => {
    panel.replaceChildren(content);
    const first = panel.querySelector("input, select");
    if (first) first.focus();
  };
  const showAll = h("input", { type: "checkbox", name: "all", checked: all,
    onchange: () => usersView(root, { all: showAll.checked }) });
  root.replaceChildren(h("h1", {}, t("nav.users")), addUserForm(reload),
    h("label", { class: "inline-label show-inactive" }, showAll, ` ${t("users.show_inactive")}`),
    table([t("users.name"), ...USER_FIELDS.map((f) => t(f.label)), t("users.state"), ""],
      list.map((u) => [h("span", { "data-user": u.name }, u.name), ...USER_FIELDS.map((f) => shown(f, u)),
        u.active === false ? h("span", { class: "user-state inactive" }, t("users.inactive"))
          : h("span", { class: "user-state" }, t("users.active")),
        h("div", { class: "row actions" },
          u.active === false ? null : button(t("users.edit"), () => open(editUserForm(u, reload)), "edit-user"),
          button(t("tokens.title_short"), async () => open(await tokensPanel(u)), "tokens"),
          u.active === false ? null : button(t("users.contacts"), async () => open(await contactsForm(u))),
          u.id === me.id ? null : u.active === false
            ? button(t("users.reactivate"), async () => {
              await api("POST", `/api/users/${u.id}/reactivate`);
              flash(t("common.saved"));
              await reload();
            }, "reactivate")
            : button(t("users.deactivate"), async () => {
              if (!window.confirm(t("users.confirm_deactivate"))) return;
              await api("POST", `/api/users/${u.id}/deactivate`);
              flash(t("common.saved"));
              await reload();
            }, "danger deactivate"))])),
    panel);
}

function addUserForm(after) {
  const error = h("p", { class: "form-error", role: "alert" });
  const inputs = USER_FIELDS.map((f) => [f, fieldInput(f, null)]);
  const name = h("input", { name: "name", required: true, maxlength: 64 });
  const password = h("input", { name: "password", type: "password", minlength: 8, required: true,
    autocomplete: "new-password" });
  const form = h("form", { class: "row add-user" },
    h("label", {}, t("users.name"), name),
    inputs.map(([f, input]) => h("label", {}, t(f.label), input)),
    h("label", {}, t("users.password"), password),
    h("button", { type: "submit", class: "primary" }, t("users.add")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = { name: name.value.trim(), password: password.value };
    for (const [f, input] of inputs) body[f.name] = fieldValue(f, input);
    try {
      await api("POST", "/api/users", body);
      flash(t("common.saved"));
      await after();
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  return form;
}

// One account's fields; saving applies at once: the user's open tickers reconnect into their new audience.
function editUserForm(user, after) {
  const error = h("p", { class: "form-error", role: "alert" });
  const inputs = USER_FIELDS.map((f) => [f, fieldInput(f, user)]);
  const form = h("form", { class: "edit-user-form" },
    h("h2", {}, t("users.edit_title", { name: user.display_name || user.name })),
    h("p", { class: "muted" }, t("users.edit_hint")),
    h("div", { class: "row" }, inputs.map(([f, input]) => h("label", {}, t(f.label), input))),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("common.save"))), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = Object.fromEntries(inputs.map(([f, input]) => [f.name, fieldValue(f, input)]));
    try {
      await api("PATCH", `/api/users/${user.id}`, body);
      flash(t("common.saved"));
      await after();
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  return form;
}

// A user's API tokens: list, create (the token is shown once, in the push-token dialog), revoke.
async function tokensPanel(user) {
  const rows = listOf(await api("GET", `/api/users/${user.id}/tokens`), "items");
  const name = user.display_name || user.name;
  const section = h("section", { class: "tokens-panel" });
  const again = async () => section.replaceWith(await tokensPanel(user));
  const error = h("p", { class: "form-error", role: "alert" });
  const label = h("input", { name: "label", maxlength: 100, placeholder: t("tokens.label_hint") });
  const create = h("form", { class: "row create-token" }, h("label", {}, t("tokens.label"), label),
    h("button", { type: "submit", class: "primary" }, t("tokens.create")), error);
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const made = await api("POST", `/api/users/${user.id}/tokens`, { label: label.value.trim() || "api" });
      showTokenOnce(name, made.token, { title: t("tokens.shown_title", { name }), usage: t("tokens.usage") });
      await again();
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  section.append(h("h2", {}, t("tokens.heading", { name })),
    rows.length ? table([t("tokens.label"), t("tokens.created"), t("tokens.last_used"), t("users.state"), ""],
      rows.map((x) => [h("span", { "data-token-id": x.id }, x.label), time(x.created_at), time(x.last_used_at),
        x.revoked ? h("span", { class: "token-state revoked" }, t("tokens.revoked"))
          : h("span", { class: "token-state" }, t("tokens.valid")),
        x.revoked ? "" : button(t("tokens.revoke"), async () => {
          if (!window.confirm(t("tokens.confirm_revoke", { label: x.label }))) return;
          await api("POST", `/api/tokens/${x.id}/revoke`);
          flash(t("common.saved"));
          await again();
        }, "danger revoke-token")]))
      : h("p", { class: "muted" }, t("tokens.none")),
    user.active === false ? null : create);
  return section;
}

// One person's alert contacts; the server validates (e-mail, mainland mobile, IM ids) and names the field.
export async function contactsForm(user) {
  const path = `/api/users/${encodeURIComponent(user.name)}/contacts`;
  const { contact } = await api("GET", path);
  const error = h("p", { class: "form-error", role: "alert" });
  const fields = {
    email: { type: "email", autocomplete: "off" },
    mobile: { type: "tel", inputmode: "numeric", placeholder: "13812345678", autocomplete: "off" },
    dingtalk_id: {}, wecom_id: {}, feishu_id: { placeholder: "ou_..." },
  };
  const inputs = Object.fromEntries(Object.entries(fields).map(([name, attrs]) => {
    const input = h("input", { name, ...attrs });
    input.value = contact[name] || "";
    return [name, input];
  }));
  const prefer = h("input", { name: "prefer", placeholder: "dingtalk, wecom, feishu, email" });
  prefer.value = (contact.prefer || []).join(", ");
  const form = h("form", { class: "contacts-form" },
    h("h2", {}, t("contacts.title", { name: user.display_name || user.name })),
    h("p", { class: "muted" }, t("contacts.hint")),
    h("div", { class: "row" }, Object.entries(inputs).map(([name, input]) => h("label", {}, t(`contacts.${name}`), input))),
    h("div", { class: "row" }, h("label", {}, t("contacts.prefer"), prefer),
      h("button", { type: "submit", class: "primary" }, t("common.save"))),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value.trim()]));
    body.prefer = prefer.value.split(/[,，\s]+/).filter(Boolean);
    try {
      const saved = await api("PUT", path, body);
      inputs.mobile.value = saved.contact.mobile;  // normalized: +86 and spaces dropped
      flash(t("common.saved"));
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  return form;
}
