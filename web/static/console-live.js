// The console's live connection: Server-Sent Events from /api/live (incident, alert, script, source hints),
// and the old polling while that stream is down.  Views say what they follow; an event refreshes only the
// views it concerns, once per short burst (the first event starts a short wait, later ones join it).
import { h, t } from "./dom.js";

const KINDS = ["incident", "alert", "script", "source"];
const DELAY_MS = 300;
const CONNECT_WAIT_MS = 5000; // no "ready" this long (e.g. a buffering proxy): poll meanwhile
const REFUSED_RETRY_MS = 30000; // the browser gave the stream up (refused, not an SSE answer): try again later

class Watcher {
  constructor(owner, spec, refresh) {
    this.owner = owner;
    this.kinds = spec.kinds || [];
    this.match = spec.match || (() => true);
    this.poll = spec.poll || 0;
    this.delay = spec.delay ?? DELAY_MS;
    this.guard = spec.guard || (() => true);
    this.global = Boolean(spec.global);
    this.refresh = refresh;
    this.timer = null;
    this.interval = null;
    this.running = false;
    this.again = false;
    this.stale = false;
    this.cancelled = false;
  }

  // Refresh at once (the view's first render goes through here too, so refreshes never overlap).
  async now() {
    if (this.running) { this.again = true; return; }
    this.running = true;
    this.stale = false;
    try {
      await this.refresh();
    } finally {
      this.running = false;
      if (this.again && !this.cancelled) { this.again = false; this.later(); }
    }
  }

  // Refresh soon: events arriving meanwhile are folded into the same refresh.
  later() {
    if (this.cancelled) return;
    if (document.hidden) { this.stale = true; return; } // a background tab catches up when shown
    if (this.running) { this.again = true; return; }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.guard()) { this.stale = true; return; } // someone is typing in this view: leave it alone
      this.now().catch(() => {});
    }, this.delay);
  }

  startPolling() {
    if (!this.poll || this.interval || this.cancelled) return;
    this.interval = setInterval(() => { if (!document.hidden) this.now().catch(() => {}); }, this.poll);
  }

  stopPolling() {
    clearInterval(this.interval);
    this.interval = null;
  }

  cancel() {
    this.cancelled = true;
    clearTimeout(this.timer);
    this.stopPolling();
    this.owner.watchers.delete(this);
  }
}

export class Live {
  constructor() {
    this.watchers = new Set();
    this.mode = "connecting"; // connecting | live | polling | offline
    this.polling = true; // the server's console.fallback_polling, told in the ready event
    this.lastId = "";
    this.source = null;
    this.hint = h("span", { class: "live-hint small", title: t("live.title"), "aria-live": "polite" });
    this.connectTimer = null;
  }

  start(where) {
    if (where) where.prepend(this.hint, " ");
    this.show();
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) return;
      for (const w of this.watchers) if (w.stale) w.later();
    });
    if (typeof EventSource === "undefined") { this.setMode("polling"); return; }
    this.connect();
  }

  // A view (or the badge, with global: true) follows events; returns the watcher (``.now()`` renders).
  follow(spec, refresh) {
    const watcher = new Watcher(this, spec, refresh);
    this.watchers.add(watcher);
    if (this.mode !== "live" && this.mode !== "connecting" && this.polling) watcher.startPolling();
    return watcher;
  }

  // A new view: the previous view's watchers go.
  clearViews() {
    for (const w of [...this.watchers]) if (!w.global) w.cancel();
  }

  connect() {
    const url = this.lastId ? `/api/live?last_event_id=${encodeURIComponent(this.lastId)}` : "/api/live";
    const source = new EventSource(url);
    this.source = source;
    const on = (kind, handle) => source.addEventListener(kind, (event) => {
      if (event.lastEventId) this.lastId = event.lastEventId;
      let data = {};
      try { data = JSON.parse(event.data || "{}"); } catch (err) { data = {}; }
      handle(data);
    });
    on("ready", (data) => { this.polling = data.polling !== false; this.setMode("live"); });
    on("resync", (data) => { this.polling = data.polling !== false; this.setMode("live"); this.refreshAll(); });
    for (const kind of KINDS) on(kind, (data) => this.dispatch(kind, data));
    // The server ends the stream because this sign-in ended (deactivated, token revoked, signed out) or the
    // account changed (role, team, skills, site): sign in again, or reload into what the account is now.
    on("account", (data) => {
      source.close();
      this.source = null;
      if (data.action === "end") location.assign(`/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
      else location.reload();
    });
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.source = null;
        setTimeout(() => { if (!this.source) this.connect(); }, REFUSED_RETRY_MS);
      }
      this.down();
    };
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => { if (this.mode === "connecting") this.down(); }, CONNECT_WAIT_MS);
  }

  // Stop listening (tests, and pages being left); the views fall back to polling.
  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.down();
  }

  down() {
    this.setMode(this.polling ? "polling" : "offline");
  }

  dispatch(kind, data) {
    for (const w of this.watchers) {
      if (!w.kinds.includes(kind)) continue;
      let wanted = false;
      try { wanted = w.match(kind, data); } catch (err) { wanted = true; }
      if (wanted) w.later();
    }
  }

  refreshAll() {
    for (const w of this.watchers) w.later();
  }

  setMode(mode) {
    if (mode === this.mode) return;
    const wasLive = this.mode === "live";
    this.mode = mode;
    for (const w of this.watchers) (mode === "polling" ? w.startPolling() : w.stopPolling());
    if (mode === "live" && !wasLive) clearTimeout(this.connectTimer);
    this.show();
  }

  show() {
    const text = { live: t("live.on"), polling: t("live.polling"), offline: t("live.off"), connecting: t("live.connecting") };
    this.hint.textContent = text[this.mode];
    this.hint.dataset.mode = this.mode;
  }
}

export const live = new Live();
window.lanternLive = live;
