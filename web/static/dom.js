// Small helpers shared by the console views: elements without innerHTML, the API client,
// translations and formatting.  Every text from the server is inserted with textContent.

import { el } from "./ticker-core.js";

const page = JSON.parse(document.getElementById("lantern-page").textContent);
export const me = page.user;
export const lang = page.lang;
const strings = page.strings;

// What each role may use, as the server enforces it (web/auth.py `require`; admin passes everything).  The
// console shows a role only these views and buttons, so nobody is offered what would answer 403; a view
// typed into the address bar says plainly that it needs another role.
const ALLOWED = {
  incidents: ["manager", "oncall"], inbox: ["manager", "oncall"], alerts: ["manager", "oncall"],
  scripts: ["manager"], approvals: ["manager"], sources: ["manager", "oncall"], editSources: ["manager"],
  routing: ["manager", "oncall"], editRouting: [], users: [], corrections: ["manager"],
  me: ["manager", "oncall", "agent"],
};
export const can = (what) => me.role === "admin" || (ALLOWED[what] || []).includes(me.role);

export function t(key, values) {
  let text = strings[key] || key;
  for (const [k, v] of Object.entries(values || {})) text = text.replace(`{${k}}`, String(v));
  return text;
}

export function h(tag, attrs, ...children) {
  return el(document, tag, attrs, ...children);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

export async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") options.headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (response.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname + location.hash)}`; }
  if (!response.ok) {
    const message = (data && (data[`message_${lang}`] || data.message_zh || data.message)) || `HTTP ${response.status}`;
    throw new ApiError(response.status, data && data.error, message);
  }
  return data;
}

// The first array in a response ({incidents: [...]} or a bare list): the other
// engineers' endpoints may name their collections differently.
export function listOf(data, ...names) {
  if (Array.isArray(data)) return data;
  for (const name of names) if (data && Array.isArray(data[name])) return data[name];
  for (const value of Object.values(data || {})) if (Array.isArray(value)) return value;
  return [];
}

export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  const note = h("div", { class: `flash flash-${kind}` }, message);
  box.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 10000 : 4000);
}

export function time(epoch) {
  if (!epoch) return "—";
  const value = typeof epoch === "number" ? new Date(epoch * 1000) : new Date(epoch);
  return value.toLocaleString(lang, { hour12: false });
}

export function button(label, onclick, cls = "") {
  return h("button", { type: "button", class: cls, onclick: async (event) => {
    const target = event.currentTarget;
    target.disabled = true;
    try { await onclick(event); } catch (err) { flash(err.message || t("common.error"), "error"); }
    finally { target.disabled = false; }
  } }, label);
}

export function table(headers, rows) {
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

export function noPermission() {
  return h("p", { class: "form-error no-permission", role: "alert" }, t("common.forbidden"));
}

export function unavailable(err) {
  if (err && err.status === 403) return noPermission();
  if (err && (err.status === 404 || err.status === 405)) return h("p", { class: "muted" }, t("common.unavailable"));
  return h("p", { class: "form-error" }, (err && err.message) || t("common.error"));
}

export function keyValues(obj) {
  return h("dl", { class: "kv" }, Object.entries(obj || {}).flatMap(([k, v]) => [
    h("dt", {}, k), h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "")),
  ]));
}
