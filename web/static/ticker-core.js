// Lantern ticker (走马灯) core: the crawl, its controls and the websocket client.
// Shared by the /ticker page (as an ES module) and /widget.js (the server inlines this file,
// without its `export` keywords, into one classic script).  No innerHTML anywhere: every
// script text reaches the page through textContent, so a script body is never markup.

const PRIORITY_ORDER = { critical: 0, high: 1, normal: 2, low: 3 };
const SPEED_PX_S = 90; // crawl speed
const FLIP_MS = 6000; // reduced-motion: one item at a time, this long each
const PING_TIMEOUT_MS = 45000; // no message for this long: the connection is dead
const STALE_AFTER_MS = 60000; // no message for this long: warn the agent (until the server says, stale_after_s)
const MAX_PENDING_COPIES = 100; // copies made while disconnected, reported once the socket is back
// Close codes (broadcast/PROTOCOL.md, "Closing").
const CLOSE_SIGNED_OUT = 4401; // the account or credential no longer signs in: stop, do not reconnect
const CLOSE_RECONNECT = 4205; // the account changed: reconnect now, without since/epoch (a fresh snapshot)

// Builds an element without innerHTML: every child that is not a node becomes a text node.
// The one element helper of the console, the ticker page and the widget.
export function el(doc, tag, attrs, ...children) {
  const node = doc.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "value") node.value = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "object" && child.nodeType ? child : doc.createTextNode(String(child)));
  }
  return node;
}

// Puts `text` on the clipboard; without the Clipboard API (or its permission), through a textarea briefly
// added to `parent` (inside an open modal dialog, the dialog itself).  The ticker, the widget and the
// console's token dialog copy through here.
export async function copyText(doc, text, parent) {
  try {
    await (doc.defaultView || window).navigator.clipboard.writeText(text);
  } catch (err) {
    const area = el(doc, "textarea", { class: "lt-offscreen" });
    area.value = text;
    parent.append(area);
    area.select();
    doc.execCommand("copy");
    area.remove();
  }
}

export function backoffDelay(attempt, random = Math.random) {
  // 0.5 s, 1 s, 2 s ... capped at 30 s, with ±20 % jitter so a whole floor does not reconnect at once.
  const base = Math.min(30000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export function isOverdue(item, now = Date.now() / 1000) {
  // A shown script past its "review by" time may be out of date (broadcast/PROTOCOL.md, item.review_by).
  return item.state !== "retracted" && item.review_by != null && item.review_by <= now;
}

export function isVisible(item, now = Date.now() / 1000) {
  // The same rule as the server's broadcast.ticker.visible().
  if (item.expires_at != null && item.expires_at <= now) return false;
  return !(item.state === "retracted" && item.withdrawn_until != null && item.withdrawn_until <= now);
}

export class TickerModel {
  // The items the agent should see, keyed by script id (sans-I/O; protocol: broadcast/PROTOCOL.md).
  // A retracted script stays for a while marked withdrawn (已撤回), without its text.
  constructor() {
    this.items = new Map();
    this.rev = null;
    this.epoch = null;
  }
  apply(msg) {
    // Returns true when what is shown may have changed.
    if (typeof msg.rev === "number") this.rev = msg.rev;
    if (typeof msg.epoch === "string") this.epoch = msg.epoch;
    switch (msg.type) {
      case "snapshot":
        this.items = new Map((msg.items || []).map((item) => [String(item.id), item]));
        return true;
      case "publish":
      case "update":
        if (!msg.item) return false;
        this.items.set(String(msg.item.id), msg.item);
        return true;
      case "retract": {
        const id = String(msg.id ?? (msg.item && msg.item.id));
        const old = this.items.get(id) || {};
        this.items.set(id, { ...old, ...(msg.item || {}), id: old.id ?? msg.id, state: "retracted" });
        return true;
      }
      case "expire":
        return this.items.delete(String(msg.id ?? (msg.item && msg.item.id)));
      default:
        return false;
    }
  }
  prune(now = Date.now() / 1000) {
    let changed = false;
    for (const [id, item] of this.items) if (!isVisible(item, now)) { this.items.delete(id); changed = true; }
    return changed;
  }
  sorted(now = Date.now() / 1000) {
    const rank = (item) => (item.state === "retracted" ? 10 : PRIORITY_ORDER[item.priority] ?? 9);
    return [...this.items.values()].filter((item) => isVisible(item, now))
      .sort((a, b) => rank(a) - rank(b) || (b.published_at || 0) - (a.published_at || 0));
  }
}

export class Ticker {
  // options: {root, doc, wsUrl, strings, reducedMotion (bool|undefined), WebSocket, shortcuts,
  //           onSignedOut (called once the server said the sign-in ended), checkSignedIn (async; false when a
  //           refused connection means the sign-in is gone rather than the server being away)}
  constructor(options) {
    this.doc = options.doc || document;
    this.win = this.doc.defaultView || window;
    this.root = options.root;
    this.wsUrl = options.wsUrl;
    this.s = options.strings || {};
    this.WS = options.WebSocket || this.win.WebSocket;
    this.model = new TickerModel();
    this.shortcuts = options.shortcuts ?? true; // Space on the page body pauses (off inside the widget)
    this.onRender = options.onRender || null; // called after each render (the /ticker page lists the scripts)
    this.onSignedOut = options.onSignedOut || null;
    this.checkSignedIn = options.checkSignedIn || null;
    this.signedOut = false;
    this.paused = false;
    this.connected = false;
    this.attempt = 0;
    this.offset = 0;
    this.lastFrame = 0;
    this.flipIndex = 0;
    this.flipTimer = null;
    this.displayed = new Set();
    this.acked = new Set();
    this.openId = null;
    this.lastHeard = Date.now(); // last message (or open) from the server
    this.staleAfterMs = STALE_AFTER_MS;
    this.overdueKey = "";
    this.pendingCopies = [];
    const query = this.win.matchMedia ? this.win.matchMedia("(prefers-reduced-motion: reduce)") : null;
    this.reducedMotion = options.reducedMotion ?? (query ? query.matches : false);
    if (query && options.reducedMotion === undefined && query.addEventListener) {
      query.addEventListener("change", (e) => { this.reducedMotion = e.matches; this.render(); });
    }
    this.build();
    this.render();
    this.connect();
    this.frame = this.frame.bind(this);
    this.win.requestAnimationFrame(this.frame);
    this.pruneTimer = setInterval(() => { if (this.model.prune()) this.render(); this.checkStale(); }, 1000);
  }

  t(key) { return this.s[key] || key; }

  build() {
    const d = this.doc;
    this.status = el(d, "div", { class: "lt-status", role: "alert", hidden: true },
      el(d, "strong", {}, this.t("ticker.disconnected")), " ",
      el(d, "span", { class: "lt-status-detail" }, this.t("ticker.reconnecting")));
    // Scripts may be out of date: the server has been silent too long, or a script is past its review time.
    this.stale = el(d, "div", { class: "lt-stale", role: "alert", hidden: true },
      el(d, "strong", {}, this.t("ticker.stale")), " ",
      el(d, "span", { class: "lt-stale-detail" }), " ",
      el(d, "button", { type: "button", class: "lt-refresh", onclick: () => this.refreshNow() }, this.t("ticker.refresh")));
    this.pauseButton = el(d, "button", { type: "button", class: "lt-pause", "aria-pressed": "false",
      title: this.t("ticker.shortcut"), onclick: () => this.setPaused(!this.paused) }, this.t("ticker.pause"));
    this.pinned = el(d, "div", { class: "lt-pinned", "aria-label": this.t("ticker.pinned") });
    this.track = el(d, "div", { class: "lt-track" });
    this.viewport = el(d, "div", { class: "lt-viewport", "aria-live": "off" }, this.track);
    this.empty = el(d, "div", { class: "lt-empty" }, this.t("ticker.empty"));
    this.bar = el(d, "div", { class: "lt-bar" }, this.pauseButton, this.pinned, this.viewport, this.empty);
    this.detail = el(d, "section", { class: "lt-detail", hidden: true, "aria-live": "polite" });
    this.root.classList.add("lt-root");
    this.root.append(this.status, this.stale, this.bar, this.detail);
    this.root.addEventListener("keydown", (e) => this.onKey(e));
    // The crawl holds still while the pointer is over it or an item has keyboard focus, so an item
    // can be read and clicked; the pause button stops it for good.
    this.viewport.addEventListener("mouseenter", () => { this.hover = true; });
    this.viewport.addEventListener("mouseleave", () => { this.hover = false; });
    this.viewport.addEventListener("focusin", () => { this.focused = true; });
    this.viewport.addEventListener("focusout", () => { this.focused = false; });
    if (this.shortcuts) this.doc.addEventListener("keydown", (e) => {
      if ((e.target === this.doc.body || e.target === this.doc.documentElement) && e.key === " ") {
        e.preventDefault();
        this.setPaused(!this.paused);
      }
    });
  }

  onKey(e) {
    if (e.key === "Escape" && this.openId !== null) { this.closeDetail(); e.preventDefault(); }
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.pauseButton.textContent = paused ? this.t("ticker.resume") : this.t("ticker.pause");
    this.root.classList.toggle("lt-is-paused", paused);
  }

  // -- websocket --------------------------------------------------------------
  connect() {
    if (this.signedOut) return;
    let ws;
    try {
      ws = new this.WS(this.resumeUrl());
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.attempt = 0; this.setConnected(true); this.touch(); };
    ws.onmessage = (event) => { this.touch(); this.onMessage(event.data); };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setConnected(false);
      if (event.code === CLOSE_SIGNED_OUT) { this.signOut(); return; }
      if (event.code === CLOSE_RECONNECT) { // come back as a new connection: the snapshot of the new audience
        this.model.rev = null;
        this.model.epoch = null;
        this.attempt = 0;
      }
      if (!opened && this.checkSignedIn) { // refused before opening: signed out, or the server is away?
        this.checkSignedIn().then((ok) => (ok === false ? this.signOut() : this.scheduleReconnect()),
          () => this.scheduleReconnect());
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => { try { ws.close(); } catch (err) { /* already closed */ } };
  }

  resumeUrl() {
    // Come back with the last revision and epoch: the server replays what was missed, or sends a snapshot.
    if (this.model.rev === null || !this.model.epoch) return this.wsUrl;
    const url = new URL(this.wsUrl, this.win.location.href);
    url.searchParams.set("since", String(this.model.rev));
    url.searchParams.set("epoch", this.model.epoch);
    return url.href;
  }

  touch() {
    this.lastHeard = Date.now();
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => { if (this.ws) this.ws.close(); }, PING_TIMEOUT_MS);
  }

  scheduleReconnect() {
    clearTimeout(this.reconnectTimer);
    if (this.signedOut) return;
    const delay = backoffDelay(this.attempt++);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  // The sign-in ended (deactivated, token revoked, signed out): no scripts, no reconnecting, say so.
  signOut() {
    if (this.signedOut) return;
    this.signedOut = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.deadTimer);
    this.model = new TickerModel();
    this.render();
    this.status.querySelector("strong").textContent = this.t("ticker.signed_out");
    this.status.querySelector(".lt-status-detail").textContent = this.t("ticker.sign_in_again");
    this.status.hidden = false;
    this.root.classList.add("lt-is-signed-out");
    if (this.onSignedOut) this.onSignedOut(this);
  }

  setConnected(connected) {
    this.connected = connected;
    this.status.hidden = connected;
    this.root.classList.toggle("lt-is-stale", !connected);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }

  onMessage(data) {
    let msg;
    try { msg = JSON.parse(data); } catch (err) { return; }
    if (msg.type === "ping") { this.send({ type: "pong", rev: this.model.rev }); this.checkStale(); return; }
    if (msg.type === "snapshot" || msg.type === "resumed") {
      if (typeof msg.stale_after_s === "number" && msg.stale_after_s > 0) this.staleAfterMs = msg.stale_after_s * 1000;
      for (const copied of this.pendingCopies.splice(0)) this.send(copied); // the server knows us again
    }
    if (this.model.apply(msg)) this.render();
    this.checkStale();
  }

  // -- staleness ------------------------------------------------------------------
  // Warns (zh-CN/English) when nothing came from the server for longer than staleAfterMs, or a shown script
  // is past its review_by time; marks those scripts in the crawl.  Runs every second and on every message.
  checkStale(now = Date.now()) {
    const overdue = this.model.sorted(now / 1000).filter((item) => isOverdue(item, now / 1000));
    const key = overdue.map((item) => `${item.id}:${item.version}`).join(",");
    if (key !== this.overdueKey) { this.overdueKey = key; this.render(); }
    const silentMs = now - this.lastHeard;
    const silent = silentMs > this.staleAfterMs;
    const show = (silent || overdue.length > 0) && !this.signedOut;
    const reasons = [];
    if (silent) reasons.push(this.t("ticker.stale_silent").replace("{s}", String(Math.floor(silentMs / 1000))));
    if (overdue.length) reasons.push(`${this.t("ticker.stale_review")}${overdue.map((i) => `「${i.title || ""}」`).join("")}`);
    const detail = this.stale.querySelector(".lt-stale-detail");
    if (detail.textContent !== reasons.join("；")) detail.textContent = reasons.join("；");
    this.stale.hidden = !show;
    this.stale.dataset.reason = [silent ? "silent" : "", overdue.length ? "review" : ""].filter(Boolean).join(" ");
    this.root.classList.toggle("lt-is-outdated", show);
    return show;
  }

  refreshNow() {
    // Reconnect at once: a fresh snapshot (or the missed deltas) and a new heartbeat.
    this.attempt = 0;
    clearTimeout(this.reconnectTimer);
    if (this.ws) { try { this.ws.close(); } catch (err) { /* already closed */ } } else this.connect();
  }

  // -- rendering ----------------------------------------------------------------
  itemButton(item, extraClass) {
    const d = this.doc;
    if (item.state === "retracted") {
      return el(d, "span", { class: "lt-item lt-withdrawn", "data-id": item.id, "data-version": item.version },
        el(d, "span", { class: "lt-prio" }, this.t("ticker.withdrawn")), " ", el(d, "s", { class: "lt-title" }, item.title || ""));
    }
    const overdue = isOverdue(item);
    return el(d, "button", {
      type: "button", class: `lt-item lt-${item.priority || "normal"} ${extraClass || ""}${overdue ? " lt-overdue" : ""}`,
      "data-id": item.id, "data-version": item.version, "aria-expanded": String(this.openId === String(item.id)),
      onclick: () => this.openDetail(String(item.id)),
    }, el(d, "span", { class: "lt-prio" }, this.t(`priority.${item.priority || "normal"}`)), " ",
    overdue ? el(d, "span", { class: "lt-review" }, this.t("ticker.review_overdue")) : null, overdue ? " " : null,
    el(d, "span", { class: "lt-title" }, item.title || ""), " ",
    el(d, "span", { class: "lt-body" }, item.body || ""));
  }

  render() {
    const items = this.model.sorted();
    const pinned = items.filter((i) => i.priority === "critical" && i.state !== "retracted");
    const moving = items.filter((i) => !pinned.includes(i));
    this.pinned.replaceChildren(...pinned.map((i) => this.itemButton(i, "lt-is-pinned")));
    this.track.replaceChildren(...moving.map((i) => this.itemButton(i)));
    this.empty.hidden = items.length > 0;
    this.root.classList.toggle("lt-reduced", Boolean(this.reducedMotion));
    this.offset = 0; // a new list starts at the left edge so the newest script is seen at once
    this.flipIndex = 0;
    this.applyFlip();
    this.applyOffset();
    for (const item of items) {
      if (item.state === "retracted") continue;
      const key = `${item.id}:${item.version}`;
      if (this.connected && !this.displayed.has(key)) {
        this.displayed.add(key);
        this.send({ type: "displayed", id: item.id, version: item.version });
      }
    }
    if (this.openId !== null) {
      const open = this.model.items.get(this.openId);
      if (open && open.state !== "retracted") this.fillDetail(open); else this.closeDetail();
    }
    if (this.onRender) this.onRender(items, this);
  }

  isAcked(item) { return this.acked.has(`${item.id}:${item.version}`); }

  acknowledge(item) {
    this.acked.add(`${item.id}:${item.version}`);
    this.send({ type: "ack", id: item.id, version: item.version });
    if (this.openId === String(item.id)) this.fillDetail(item);
    if (this.onRender) this.onRender(this.model.sorted(), this); // no full render: the crawl keeps its place
  }

  applyOffset() {
    this.viewport.scrollLeft = 0; // focus or scrollIntoView must not shift the crawl sideways
    this.track.style.transform = `translateX(${-this.offset}px)`;
  }

  applyFlip() {
    const children = [...this.track.children];
    children.forEach((child, i) => { child.hidden = this.reducedMotion && i !== this.flipIndex % children.length; });
    clearInterval(this.flipTimer);
    if (this.reducedMotion && children.length > 1) {
      this.flipTimer = setInterval(() => {
        if (this.paused) return;
        this.flipIndex = (this.flipIndex + 1) % children.length;
        children.forEach((child, i) => { child.hidden = i !== this.flipIndex; });
      }, FLIP_MS);
    }
  }

  frame(ts) {
    const dt = this.lastFrame ? Math.min(0.1, (ts - this.lastFrame) / 1000) : 0;
    this.lastFrame = ts;
    if (!this.paused && !this.hover && !this.focused && !this.reducedMotion && this.track.children.length) {
      this.offset += SPEED_PX_S * dt;
      const width = this.track.scrollWidth;
      if (this.offset > width) this.offset = -this.viewport.clientWidth; // re-enter from the right
      this.applyOffset();
    }
    this.win.requestAnimationFrame(this.frame);
  }

  // -- detail, copy, acknowledge -----------------------------------------------
  openDetail(id) {
    this.openId = id;
    const item = this.model.items.get(id);
    if (!item) return;
    this.fillDetail(item);
    this.detail.hidden = false;
    for (const b of this.root.querySelectorAll(".lt-item")) b.setAttribute("aria-expanded", String(b.dataset.id === id));
    const first = this.detail.querySelector("button");
    if (first) first.focus();
  }

  closeDetail() {
    const id = this.openId;
    this.openId = null;
    this.detail.hidden = true;
    const back = id !== null ? this.root.querySelector(`.lt-item[data-id="${CSS.escape(id)}"]`) : null;
    if (back) back.focus();
  }

  fillDetail(item) {
    const d = this.doc;
    const body = el(d, "p", { class: "lt-detail-body" }, item.body || "");
    const copy = el(d, "button", { type: "button", class: "lt-copy", onclick: () => this.copy(item, copy) },
      this.t("ticker.copy"));
    const acked = this.isAcked(item);
    const ack = el(d, "button", { type: "button", class: "lt-ack", disabled: acked,
      onclick: () => this.acknowledge(item) },
    acked ? this.t("ticker.acked") : this.t("ticker.ack"));
    const close = el(d, "button", { type: "button", class: "lt-close", onclick: () => this.closeDetail() }, this.t("ticker.close"));
    const expires = item.expires_at
      ? el(d, "span", { class: "lt-expires" }, `${this.t("ticker.expires")} ${new Date(item.expires_at * 1000).toLocaleTimeString()}`)
      : null;
    this.detail.className = `lt-detail lt-${item.priority || "normal"}`;
    this.detail.replaceChildren(
      el(d, "h2", {}, item.title || ""), body,
      el(d, "div", { class: "lt-actions" }, copy, ack, close, expires));
  }

  async copy(item, button) {
    await copyText(this.doc, item.body || "", this.root);
    this.reportCopy(item);
    button.textContent = this.t("ticker.copied");
  }

  reportCopy(item) {
    // Every copy counts (copy-to-reply usage); made while disconnected, it is sent once the server is back.
    const copied = { type: "copied", id: item.id, version: item.version };
    if (this.ws && this.ws.readyState === 1) this.send(copied);
    else if (this.pendingCopies.length < MAX_PENDING_COPIES) this.pendingCopies.push(copied);
  }
}
