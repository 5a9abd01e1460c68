// Bootstrap of the embeddable widget.  The server serves /widget.js as
//   (function () { <ticker-core.js without exports>; <this file> })();
// with LANTERN_STRINGS (both languages) and LANTERN_CSS defined before this code.
// Usage on the CRM desktop:
//   a script element with src="https://lantern.example/widget.js", data-token="lt_...",
//   optional data-lang="en" and data-position="top" (default: bottom).
// Without data-token the websocket carries the agent's Lantern session cookie (same site only).
const script = document.currentScript;
const origin = new URL(script.src, location.href);
const lang = (script.dataset.lang || "zh-CN").toLowerCase().startsWith("en") ? "en" : "zh-CN";
const wsUrl = new URL("/ws/ticker", origin);
wsUrl.protocol = origin.protocol === "https:" ? "wss:" : "ws:";
if (script.dataset.token) wsUrl.searchParams.set("token", script.dataset.token);

function mount() {
  const host = document.createElement("div");
  host.className = "lantern-widget";
  host.style.position = "fixed";
  host.style.left = "0";
  host.style.right = "0";
  host.style[script.dataset.position === "top" ? "top" : "bottom"] = "0";
  host.style.zIndex = "2147483000";
  document.body.append(host);
  const shadow = host.attachShadow({ mode: "open" });
  if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(LANTERN_CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = LANTERN_CSS;
    shadow.append(style);
  }
  const root = document.createElement("div");
  shadow.append(root);
  host.lanternTicker = new Ticker({ root, doc: document, wsUrl: wsUrl.href, strings: LANTERN_STRINGS[lang],
    shortcuts: false });
}

if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
