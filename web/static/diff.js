// Character diff for script versions (Chinese text has no word spaces, so words would not help).
// Classic LCS table; scripts are at most a few thousand characters, and a common prefix and
// suffix are stripped first, so the table stays small for the usual small edit.
import { h } from "./dom.js";

export function diffChars(before, after) {
  const a = [...(before || "")];
  const b = [...(after || "")];
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const out = [];
  if (start) out.push(["same", a.slice(0, start).join("")]);
  if (midA.length * midB.length > 4_000_000) {
    out.push(["del", midA.join("")], ["add", midB.join("")]);
  } else {
    const n = midA.length;
    const m = midB.length;
    const table = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i][j] = midA[i] === midB[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    const push = (kind, ch) => {
      const last = out[out.length - 1];
      if (last && last[0] === kind) last[1] += ch; else out.push([kind, ch]);
    };
    while (i < n && j < m) {
      if (midA[i] === midB[j]) { push("same", midA[i]); i++; j++; }
      else if (table[i + 1][j] >= table[i][j + 1]) { push("del", midA[i]); i++; }
      else { push("add", midB[j]); j++; }
    }
    while (i < n) push("del", midA[i++]);
    while (j < m) push("add", midB[j++]);
  }
  if (endA < a.length) {
    const tail = a.slice(endA).join("");
    const last = out[out.length - 1];
    if (last && last[0] === "same") last[1] += tail; else out.push(["same", tail]);
  }
  return out;
}

export function renderDiff(before, after) {
  return h("div", { class: "diff" }, diffChars(before, after).map(([kind, text]) =>
    kind === "same" ? h("span", {}, text) : h(kind === "add" ? "ins" : "del", {}, text)));
}
