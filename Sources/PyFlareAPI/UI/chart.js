// Charts drawn as SVG by the UI itself: a time series of bars or a line per measure, a value
// on hover of each bucket, a legend, and the same numbers as a table one click away.
import { h } from "./util.js";

/** The series colours of every chart, distinct from each other; grey is kept for "other". */
export const SERIES_COLORS = ["#5b7bd5", "#e0a030", "#5aa469", "#d64545", "#8a63d2", "#3aa7b8", "#c26bb0", "#8c8c3a", "#b86b3a", "#6b8cb8"];
export const OTHER_COLOR = "#999999";

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}, ...children) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c) el.append(c);
  return el;
};

/**
 * `points`: [{t: ms since epoch, label, values: [..]}] oldest first; `series`: [{name, color,
 * format, kind: "bar" | "line"}], one per value. Returns an element with the chart, legend
 * and a table toggle; `testid` names it for tests.
 */
export function timeChart({ title, points, series, testid, height = 140 }) {
  const width = 640, pad = { l: 68, r: 8, t: 8, b: 20 };
  const innerW = width - pad.l - pad.r, innerH = height - pad.t - pad.b;
  const max = Math.max(1e-9, ...points.flatMap((p) => p.values.filter((v) => v !== null && v !== undefined)));
  const step = innerW / Math.max(1, points.length);
  const y = (v) => pad.t + innerH - (v / max) * innerH;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  chart.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: pad.t + innerH, y2: pad.t + innerH, class: "axis" }));
  for (const fraction of [0.5, 1]) {
    const v = max * fraction;
    chart.append(svg("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, document.createTextNode(series[0].format(v))));
    chart.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "grid-line" }));
  }
  if (points.length) {
    for (const i of [0, points.length - 1]) {
      chart.append(svg("text", { x: pad.l + step * i + step / 2, y: height - 4, "text-anchor": i ? "end" : "start", class: "tick" },
        document.createTextNode(points[i].label)));
    }
  }
  const bars = series.filter((s) => s.kind !== "line");
  series.forEach((s, index) => {
    if (s.kind === "line") {
      const path = points.map((p, i) => (p.values[index] === null ? null : `${pad.l + step * i + step / 2},${y(p.values[index])}`)).filter(Boolean);
      if (path.length) chart.append(svg("polyline", { points: path.join(" "), fill: "none", stroke: s.color, "stroke-width": 2 }));
      // A dot a value, so a lone bucket shows too.
      for (const point of path) {
        const [cx, cy] = point.split(",");
        chart.append(svg("circle", { cx, cy, r: 2.5, fill: s.color }));
      }
    } else {
      const w = Math.max(1, step / bars.length - 1), offset = bars.indexOf(s) * (step / bars.length);
      points.forEach((p, i) => {
        const v = p.values[index] || 0;
        if (v > 0) chart.append(svg("rect", { x: pad.l + step * i + offset, y: y(v), width: w, height: pad.t + innerH - y(v), fill: s.color }));
      });
    }
  });
  // One transparent band per bucket carries the hover text of every measure.
  points.forEach((p, i) => {
    chart.append(svg("rect", { x: pad.l + step * i, y: pad.t, width: step, height: innerH, class: "hover-band", "data-index": i },
      svg("title", {}, document.createTextNode(`${p.label}\n` + series.map((s, k) => `${s.name}: ${p.values[k] === null ? "—" : s.format(p.values[k])}`).join("\n")))));
  });
  const legend = h("div", { class: "legend" }, series.map((s) => h("span", {}, h("i", { style: `background:${s.color}` }), s.name)));
  const table = h("table", { class: "grid compact", hidden: true, "data-testid": testid + "-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Time"), series.map((s) => h("th", { class: "num" }, s.name)))),
    h("tbody", {}, points.map((p) => h("tr", {}, h("td", { class: "mono" }, p.label),
      p.values.map((v, k) => h("td", { class: "num" }, v === null ? "—" : series[k].format(v)))))));
  const toggle = h("button", { class: "link", onclick: () => { table.hidden = !table.hidden; chart.style.display = table.hidden ? "" : "none"; toggle.textContent = table.hidden ? "Table" : "Chart"; } }, "Table");
  return h("section", { class: "chart-card", "data-testid": testid }, h("div", { class: "chart-head" }, h("h3", {}, title), legend, toggle), chart, table);
}
