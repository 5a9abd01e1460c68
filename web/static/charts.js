// Tiny SVG charts built with DOM calls (no library, no inline markup).
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) if (c) node.append(c);
  return node;
}

function scale(values, size, pad) {
  const max = Math.max(1, ...values);
  return (v) => size - pad - (v / max) * (size - 2 * pad);
}

export function sparkline(values, { width = 120, height = 28, label = "" } = {}) {
  const data = (values || []).map(Number).filter((v) => Number.isFinite(v));
  const node = svg("svg", { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${label} ${data.join(", ")}` });
  if (data.length < 2) return node;
  const y = scale(data, height, 2);
  const step = width / (data.length - 1);
  const points = data.map((v, i) => `${(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  node.append(svg("polyline", { points, fill: "none", stroke: "currentColor", "stroke-width": 1.6 }));
  return node;
}

// The incident timeline: one bar per bucket on a real time axis, the negative share as a line with a dot per
// bucket (so one bucket still shows), volume on the left axis, 0-100 % on the right.
// points: [{t: epoch s, volume: n, negative: 0..1 | null}]; bucket: seconds per bar; start/end: the window.
const TICK_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

function niceMax(value) {
  if (value <= 5) return Math.max(1, Math.ceil(value));
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * magnitude >= value) return f * magnitude;
  return 10 * magnitude;
}

function text(attrs, value) {
  const node = svg("text", attrs);
  node.textContent = value;
  return node;
}

export function timeline(points, { width = 760, height = 230, bucket = 3600, start = null, end = null,
  locale = undefined, labels = {} } = {}) {
  const data = points || [];
  const node = svg("svg", { class: "timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": labels.title || "timeline" });
  if (!data.length) return node;
  const left = 40, right = 44, top = 12, bottom = 34;
  const plotW = width - left - right, plotH = height - top - bottom;
  const t0 = start ?? data[0].t, t1 = end ?? data[data.length - 1].t + bucket;
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * plotW;
  const volumes = data.map((p) => Number(p.volume ?? 0));
  const vmax = niceMax(Math.max(1, ...volumes));
  const yv = (v) => top + plotH - (v / vmax) * plotH;
  const ys = (share) => top + plotH - share * plotH;
  // Grid and axes: volume on the left, negative share on the right.
  for (const f of [0, 0.5, 1]) {
    node.append(svg("line", { x1: left, x2: left + plotW, y1: yv(vmax * f), y2: yv(vmax * f), class: f ? "grid" : "axis" }));
    node.append(text({ x: left - 6, y: yv(vmax * f) + 4, class: "axis-label volume-label", "text-anchor": "end" },
      String(Math.round(vmax * f * 10) / 10)));
    node.append(text({ x: left + plotW + 6, y: ys(f) + 4, class: "axis-label share-label" }, `${Math.round(f * 100)}%`));
  }
  data.forEach((p, i) => {
    const x0 = x(p.t), x1 = x(p.t + bucket);
    const bar = svg("rect", { x: (x0 + 0.5).toFixed(1), y: yv(volumes[i]).toFixed(1),
      width: Math.max(1, x1 - x0 - 1).toFixed(1), height: (top + plotH - yv(volumes[i])).toFixed(1), class: "bar",
      "data-t": p.t, "data-volume": volumes[i] });
    const share = Number.isFinite(p.negative) && p.negative !== null ? ` · ${labels.negative || "negative"} ${Math.round(p.negative * 100)}%` : "";
    bar.append(svg("title", {}, document.createTextNode(
      `${new Date(p.t * 1000).toLocaleString(locale, { hour12: false })} · ${volumes[i]}${share}`)));
    node.append(bar);
  });
  const shares = data.map((p) => (p.negative === null || p.negative === undefined ? NaN : Number(p.negative)));
  const dots = shares.map((v, i) => (Number.isFinite(v) ? [x(data[i].t + bucket / 2), ys(v)] : null)).filter(Boolean);
  if (dots.length > 1) {
    node.append(svg("polyline", { points: dots.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "),
      class: "negative", fill: "none", "stroke-width": 2 }));
  }
  for (const [a, b] of dots) node.append(svg("circle", { cx: a.toFixed(1), cy: b.toFixed(1), r: 3, class: "negative-dot" }));
  // Time axis: round ticks, at most about seven.
  const span = t1 - t0;
  const step = TICK_STEPS.find((s) => span / s <= 7) || TICK_STEPS[TICK_STEPS.length - 1];
  const offset = step >= 86400 ? -new Date(t0 * 1000).getTimezoneOffset() * 60 : 0;
  const dayFirst = step >= 86400 || span > 86400;
  const fmt = new Intl.DateTimeFormat(locale, dayFirst
    ? { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false });
  for (let tick = Math.ceil((t0 + offset) / step) * step - offset; tick <= t1; tick += step) {
    const at = x(tick);
    node.append(svg("line", { x1: at, x2: at, y1: top + plotH, y2: top + plotH + 4, class: "axis" }));
    node.append(text({ x: at, y: top + plotH + 17, class: "axis-label time-label", "text-anchor": "middle",
      "data-t": tick }, fmt.format(new Date(tick * 1000))));
  }
  return node;
}
