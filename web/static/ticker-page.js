// The /ticker page: reads its data block, mounts the shared ticker full-width and, below the
// crawl, lists the active scripts in full (title, priority, body, copy and acknowledge).
// Script text reaches the page through textContent only (h() appends text nodes).
import { Ticker, el } from "./ticker-core.js";

const page = JSON.parse(document.getElementById("lantern-page").textContent);
const strings = page.strings;
const t = (key) => strings[key] || key;
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const params = new URLSearchParams(location.search);
const motion = params.get("motion"); // ?motion=reduced forces the static flip (for screens and tests)
const list = document.getElementById("lantern-active");

const h = (tag, attrs, ...children) => el(document, tag, attrs, ...children);

function card(item, ticker) {
  if (item.state === "retracted") {
    return h("li", { class: "active-script withdrawn", "data-id": item.id },
      h("span", { class: "lt-prio" }, t("ticker.withdrawn")), " ", h("s", {}, item.title || ""));
  }
  const priority = item.priority || "normal";
  const copy = h("button", { type: "button", class: "active-copy", onclick: () => ticker.copy(item, copy) }, t("ticker.copy"));
  const acked = ticker.isAcked(item);
  const ack = h("button", { type: "button", class: "active-ack", disabled: acked, onclick: () => ticker.acknowledge(item) },
    acked ? t("ticker.acked") : t("ticker.ack"));
  return h("li", { class: `active-script lt-${priority}`, "data-id": item.id, "data-version": item.version },
    h("h3", {}, h("span", { class: "lt-prio" }, t(`priority.${priority}`)), " ", h("span", { class: "active-title" }, item.title || "")),
    h("p", { class: "active-body" }, item.body || ""),
    h("div", { class: "active-actions" }, copy, ack));
}

function showList(items, ticker) {
  if (!list) return;
  list.replaceChildren(...(items.length ? items.map((item) => card(item, ticker)) : [h("li", { class: "muted" }, t("ticker.empty"))]));
}

window.lanternTicker = new Ticker({
  root: document.getElementById("lantern-ticker"),
  wsUrl: `${scheme}//${location.host}${page.ws_path}`,
  strings,
  reducedMotion: motion === "reduced" ? true : undefined,
  onRender: showList,
  // Signed out on the server (deactivated, token revoked, logged out elsewhere): say so, then the login page.
  onSignedOut: () => setTimeout(() => location.assign(`/login?next=${encodeURIComponent("/ticker")}`), 1500),
  checkSignedIn: async () => (await fetch("/api/me", { credentials: "same-origin" })).status !== 401,
});
