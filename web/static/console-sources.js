// Sources: health and controls, a form to add one, inline editing of url / interval / query, delete.
// The API masks secrets (headers, cookies, tokens, credential-looking URL parts); this page never
// shows more than the API returns, and never sends a masked URL back as if it were the real one.
// A push source's token is the exception: the API returns it once (creation, rotation) and this page
// shows it once, in a dialog that forgets it when closed.
import { api, button, can, flash, h, listOf, me, t, table, time } from "./dom.js";
import { copyText } from "./ticker-core.js";

const KINDS = ["rss", "json", "html", "push"];

function field(label, input) {
  return h("label", {}, label, input);
}

function health(s) {
  if (s.paused) return h("span", { class: "health paused" }, t("sources.paused"));
  const status = (s.health && s.health.status) || "pending";
  const ok = status === "ok" || status === "pending";
  if (status === "warning") return h("span", { class: "health warning", title: status }, t("sources.warning"));
  return h("span", { class: `health ${ok ? "ok" : "failing"}`, title: status },
    ok ? t("sources.ok") : `${t("sources.failing")} (${status}${s.health && s.health.consecutive_failures ? ` ×${s.health.consecutive_failures}` : ""})`);
}

// The last error, or what the last poll stored with a caveat, and the items it refused (each with its reason).
function notes(s) {
  const hl = s.health || {};
  const rejected = hl.rejected || [];
  return h("div", { class: "source-notes" },
    hl.last_error && hl.consecutive_failures ? h("div", { class: "source-error" }, hl.last_error) : null,
    hl.warning ? h("div", { class: "source-warning" }, hl.warning) : null,
    rejected.length ? h("details", { class: "source-rejected" },
      h("summary", {}, `${t("sources.rejected")} (${hl.rejected_count || rejected.length})`),
      h("ul", {}, rejected.map((r) => h("li", {}, h("code", {}, String(r.item)), " ", r.reason)))) : null,
    !hl.consecutive_failures && !hl.warning && hl.last_error ? h("div", { class: "muted small" }, hl.last_error) : null);
}

function encoding(s) {
  const hl = s.health || {};
  if (!hl.encoding) return "";
  return h("span", { class: "source-encoding", title: hl.encoding_source || "" }, hl.encoding,
    hl.encoding_source ? h("span", { class: "muted small" }, ` (${t(`sources.encoding_source.${hl.encoding_source}`)})`) : null);
}

// The fields of the add / edit forms; `current` pre-fills them (edit), `adding` adds name and kind.
function sourceForm({ current, adding, onSubmit, onCancel }) {
  const error = h("p", { class: "form-error", role: "alert" });
  const url = h("input", { name: "url", value: current ? current.url || "" : "", placeholder: "https://…" });
  const interval = h("input", { name: "interval_s", type: "number", min: 1, step: 1,
    value: current ? String(current.interval_s ?? "") : "300" });
  const query = h("input", { name: "query", value: current ? current.query || "" : "" });
  const name = adding ? h("input", { name: "name", required: true, maxlength: 64 }) : null;
  const kind = adding ? h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k))) : null;
  const form = h("form", { class: `row ${adding ? "add-source" : "edit-source"}` },
    adding ? field(t("sources.name"), name) : null,
    adding ? field(t("sources.kind"), kind) : null,
    field(t("sources.url"), url), field(t("sources.interval"), interval), field(t("sources.query"), query),
    h("button", { type: "submit", class: "primary" }, adding ? t("sources.add") : t("common.save")),
    onCancel ? h("button", { type: "button", onclick: onCancel }, t("common.cancel")) : null,
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = { query: query.value };
    if (interval.value !== "") body.interval_s = Number(interval.value);
    // A listed URL may be masked (***): only send it when the manager typed a new one.
    if (!current || url.value !== (current.url || "")) body.url = url.value;
    if (adding) { body.name = name.value.trim(); body.kind = kind.value; }
    try {
      await onSubmit(body);
    } catch (err) {
      error.textContent = err.message || t("common.error");
    }
  });
  return form;
}

// The token of push source `name`, once: with a copy button and a warning that it cannot be shown again.
// The users page shows a user's new API token through the same dialog, with its own title and usage line.
export function showTokenOnce(name, token, { title = t("sources.token_title", { name }),
  usage = t("sources.token_usage") } = {}) {
  const value = h("input", { class: "token-value", readonly: true, value: token, spellcheck: "false",
    autocomplete: "off", "aria-label": t("sources.token") });
  const copied = h("span", { class: "muted small", role: "status" });
  const copy = button(t("sources.token_copy"), async () => {
    await copyText(document, token, dialog);
    copied.textContent = t("sources.token_copied");
  }, "copy-token");
  const dialog = h("dialog", { class: "token-once", "aria-labelledby": "token-once-title" },
    h("h2", { id: "token-once-title" }, title),
    h("p", { class: "form-error token-warning", role: "alert" }, t("sources.token_warning")),
    h("div", { class: "row" }, value, copy, copied),
    h("p", { class: "muted small" }, usage),
    h("div", { class: "row" }, h("button", { type: "button", class: "primary close-token",
      onclick: () => dialog.close() }, t("sources.token_done"))));
  // Closing (button or Esc) drops the token from the page for good.
  dialog.addEventListener("close", () => { value.value = ""; dialog.remove(); });
  document.body.append(dialog);
  dialog.showModal();
  value.select();
  return dialog;
}

export async function sourcesView(root) {
  const sources = listOf(await api("GET", "/api/sources"), "items");
  const reload = () => sourcesView(root);
  const control = (name, action) => async () => {
    await api("POST", `/api/sources/${encodeURIComponent(name)}/${action}`);
    flash(t("common.saved"));
    await reload();
  };
  const editor = h("div", { class: "source-editor" });
  const edit = (s) => () => {
    editor.replaceChildren(h("h2", {}, `${t("sources.edit")}: ${s.name}`), sourceForm({
      current: s,
      onSubmit: async (body) => {
        await api("PATCH", `/api/sources/${encodeURIComponent(s.name)}`, body);
        flash(t("common.saved"));
        await reload();
      },
      onCancel: () => editor.replaceChildren(),
    }));
    editor.querySelector("input").focus();
  };
  const remove = (s) => async () => {
    if (!window.confirm(t("sources.confirm_delete", { name: s.name }))) return;
    await api("DELETE", `/api/sources/${encodeURIComponent(s.name)}`);
    flash(t("common.saved"));
    await reload();
  };
  const rotate = (s) => async () => {
    if (!window.confirm(t("sources.confirm_rotate", { name: s.name }))) return;
    const rotated = await api("POST", `/api/sources/${encodeURIComponent(s.name)}/token`);
    showTokenOnce(s.name, rotated.token);
  };
  const add = sourceForm({ adding: true, onSubmit: async (body) => {
    const made = (await api("POST", "/api/sources", body)).source || {};
    flash(t("common.saved"));
    await reload();
    // A generated push token is in this answer only (a token the manager typed comes back as ***).
    if (made.kind === "push" && made.token && made.token !== "***") showTokenOnce(made.name, made.token);
  } });
  root.replaceChildren(h("h1", {}, t("nav.sources")),
    table([t("sources.name"), t("sources.kind"), t("sources.health"), t("sources.interval"), t("sources.last_success"),
      t("sources.last_error"), t("sources.encoding"), ""],
    sources.map((s) => [h("span", { "data-source": s.name }, s.name), s.kind || "", health(s),
      s.interval_s != null ? `${s.interval_s} s` : "", time(s.health && s.health.last_success_at),
      notes(s), encoding(s),
      can("editSources") ? h("span", { class: "actions" },
        s.paused ? button(t("sources.resume"), control(s.name, "resume")) : button(t("sources.pause"), control(s.name, "pause")),
        button(t("sources.poll"), control(s.name, "poll")),
        button(t("sources.edit"), edit(s), "edit"),
        s.kind === "push" && me.role === "admin" ? button(t("sources.rotate"), rotate(s), "rotate") : null,
        button(t("sources.delete"), remove(s), "danger")) : ""])),
    editor,
    ...(can("editSources") ? [h("section", {}, h("h2", {}, t("sources.add")), add)] : []));
}
