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

// points: [{t: epoch, volume: n, negative: 0..1}] → bars for volume, a line for the negative share.
export function timeline(points, { width = 640, height = 180, labels = {} } = {}) {
  const data = points || [];
  const node = svg("svg", { class: "timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": labels.title || "timeline" });
  if (!data.length) return node;
  const pad = 24;
  const volumes = data.map((p) => Number(p.volume ?? p.count ?? 0));
  const y = scale(volumes, height, pad);
  const step = (width - 2 * pad) / data.length;
  data.forEach((p, i) => {
    const top = y(volumes[i]);
    const bar = svg("rect", { x: pad + i * step + 1, y: top, width: Math.max(1, step - 2), height: height - pad - top,
      class: "bar" });
    bar.append(svg("title", {}, document.createTextNode(`${new Date((p.t ?? p.time ?? 0) * 1000).toLocaleString()} · ${volumes[i]}`)));
    node.append(bar);
  });
  const negative = data.map((p) => Number(p.negative ?? p.negative_share ?? NaN));
  if (negative.some((v) => Number.isFinite(v))) {
    const line = negative.map((v, i) => Number.isFinite(v)
      ? `${(pad + (i + 0.5) * step).toFixed(1)},${(height - pad - v * (height - 2 * pad)).toFixed(1)}` : null)
      .filter(Boolean).join(" ");
    node.append(svg("polyline", { points: line, class: "negative", fill: "none", "stroke-width": 2 }));
  }
  node.append(svg("line", { x1: pad, x2: width - pad, y1: height - pad, y2: height - pad, class: "axis" }));
  const max = svg("text", { x: 2, y: pad, class: "axis-label" });
  max.textContent = String(Math.max(...volumes));
  node.append(max);
  return node;
}
