// Quality: evaluation results and their trend by evaluator (or model, or service), the failing
// spans linked to their traces, the drift alerts, a model's drift heatmap (features × windows)
// and the reference it is scored against, which can be pinned here and unpinned.
import { setChildren, api, h, fmtInt, fmtTime, navigate, errorBox, traceLink } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { timeChart, SERIES_COLORS as COLORS } from "./chart.js";

const GROUPS = [["name", "Evaluator"], ["model", "Model"], ["service", "Service"], ["feature", "Feature"]];
/** The summary's bucket for a range: about 24 to 200 points. */
const INTERVALS = { "15m": "1m", "1h": "1m", "6h": "1h", "24h": "1h", "7d": "1h", "30d": "1d", "": "1d" };

const percent = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
/** A drift or evaluation score: three decimals, small values in exponent form, as the alerts and the heatmap show them. */
export function fmtScore(v) {
  if (v === null || v === undefined) return "—";
  const n = Number(v);
  if (n === 0) return "0";
  return Math.abs(n) >= 0.01 ? n.toFixed(3) : n.toExponential(2);
}
const fmtText = (text) => (text ? fmtTime(Date.parse(text) * 1e6) : "—");
const pad = (n) => String(n).padStart(2, "0");
function bucketLabel(text, interval) {
  const d = new Date(text);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return interval === "1d" ? day : `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function shortLabel(text) {
  const d = new Date(text);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function toLocalInput(text) {
  const d = text ? new Date(text) : null;
  if (!d || isNaN(d)) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fromLocalInput(value) {
  const d = value ? new Date(value) : null;
  return d && !isNaN(d) ? d.toISOString() : "";
}

/** A cell's colour: its severity's hue, deeper as the score nears the next threshold. */
function cellColor(score, severity, method) {
  if (score === null || score === undefined) return "#f1f2f5";
  const cap = method === "mmd" ? 0.1 : 0.5;
  const t = Math.min(1, Math.max(0, Number(score) / cap));
  if (severity === "significant") return `hsl(0 70% ${62 - 18 * t}%)`;
  if (severity === "moderate") return `hsl(38 90% ${70 - 14 * t}%)`;
  return `hsl(140 40% ${94 - 16 * t}%)`;
}

export class QualityView {
  constructor(root) { this.root = root; this.aborted = false; }

  mount(_id, params) {
    this.params = params;
    // "all" in the URL is all time (an empty parameter would drop out of it).
    const range0 = params.get("range");
    this.range = range0 === "all" ? "" : range0 || "24h";
    this.group = params.get("group_by") || "name";
    this.scope = params.get("scope") || "";
    const state = (change) => ({ range: this.range || "all", group_by: this.group === "name" ? "" : this.group, scope: this.scope, ...change });
    const range = h("select", { "aria-label": "Time range", "data-testid": "quality-range",
      onchange: () => navigate("quality", null, state({ range: range.value || "all" })) },
    RANGES.map(([v, t]) => h("option", { value: v, selected: v === this.range }, t)));
    const group = h("select", { "aria-label": "Group by", "data-testid": "quality-group",
      onchange: () => navigate("quality", null, state({ group_by: group.value === "name" ? "" : group.value })) },
    GROUPS.map(([v, t]) => h("option", { value: v, selected: v === this.group }, "By " + t.toLowerCase())));
    this.state = state;
    this.evals = h("div", {}, h("div", { class: "empty" }, "Loading…"));
    this.failing = h("div");
    this.alerts = h("div");
    this.heat = h("div");
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Quality"), h("span", { class: "spacer" }), group, range),
      h("h2", { class: "section-title" }, "Evaluations"), this.evals,
      h("h2", { class: "section-title" }, "Failing spans"), this.failing,
      h("h2", { class: "section-title" }, "Drift alerts"), this.alerts,
      h("h2", { class: "section-title" }, "Drift heatmap"), this.heat);
    this.load();
  }

  unmount() { this.aborted = true; }

  since() { return sinceOf(this.range); }

  async load() {
    await Promise.all([this.loadEvaluations(), this.loadFailing(), this.loadDrift()]);
  }

  async loadEvaluations() {
    try {
      const interval = INTERVALS[this.range] || "1h";
      const q = new URLSearchParams({ interval, group_by: this.group });
      const since = this.since();
      if (since) q.set("since", since);
      const s = await api("/api/v1/evaluations/summary?" + q);
      if (this.aborted) return;
      const label = GROUPS.find(([v]) => v === this.group)[1];
      const key = (g) => (this.group === "name" ? g.name : `${g.name} · ${g[this.group] || "(none)"}`);
      // Every bucket any group has, so the series line up.
      const starts = [...new Set(s.groups.flatMap((g) => g.series.map((b) => b.start)))].sort();
      const shown = s.groups.slice().sort((a, b) => b.count - a.count).slice(0, COLORS.length);
      const byStart = shown.map((g) => Object.fromEntries(g.series.map((b) => [b.start, b])));
      const sums = Object.fromEntries(starts.map((t) => [t, { passed: 0, failed: 0 }]));
      for (const g of s.groups) for (const b of g.series) { sums[b.start].passed += b.passed; sums[b.start].failed += b.failed; }
      const count = (v) => fmtInt(Math.round(v));
      const charts = starts.length ? h("div", { class: "charts" },
        timeChart({ title: "Pass rate by " + label.toLowerCase(), testid: "chart-pass-rate",
          points: starts.map((t, i) => ({ label: bucketLabel(t, interval), values: byStart.map((m) => (m[t] && m[t].pass_rate !== null ? m[t].pass_rate : null)) })),
          series: shown.map((g, i) => ({ name: key(g), color: COLORS[i], format: percent, kind: "line" })) }),
        timeChart({ title: "Verdicts", testid: "chart-verdicts",
          points: starts.map((t) => ({ label: bucketLabel(t, interval), values: [sums[t].passed, sums[t].failed] })),
          series: [{ name: "passed", color: "#5aa469", format: count }, { name: "failed", color: "#d64545", format: count }] })) : null;
      const extra = this.group !== "name";
      const table = h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "eval-summary" },
        h("thead", {}, h("tr", {}, h("th", {}, "Evaluator"), extra ? h("th", {}, label) : null,
          ["Count", "Scored", "Mean score", "Passed", "Failed", "Pass rate", "Fail rate"].map((t) => h("th", { class: "num" }, t)))),
        h("tbody", {}, s.groups.length ? s.groups.map((g) => h("tr", { "data-testid": "eval-row", "data-name": g.name, "data-key": extra ? g[this.group] : g.name },
          h("td", { class: "name" }, g.name), extra ? h("td", {}, g[this.group] || "(none)") : null,
          h("td", { class: "num", "data-col": "count" }, fmtInt(g.count)), h("td", { class: "num", "data-col": "scored" }, fmtInt(g.scored)),
          h("td", { class: "num", "data-col": "mean_score" }, fmtScore(g.mean_score)),
          h("td", { class: "num", "data-col": "passed" }, fmtInt(g.passed)), h("td", { class: "num", "data-col": "failed" }, fmtInt(g.failed)),
          h("td", { class: "num", "data-col": "pass_rate" }, percent(g.pass_rate)),
          h("td", { class: "num" + (g.fail_rate > 0.2 ? " error-text" : ""), "data-col": "fail_rate" }, percent(g.fail_rate))))
          : h("tr", {}, h("td", { colspan: extra ? 9 : 8, class: "empty" }, "No evaluations in this range.")))));
      setChildren(this.evals, charts, table,
        h("div", { class: "muted small" }, `Buckets of ${interval}, materialized ${s.materialized_at ? fmtText(s.materialized_at) : "never"}.`));
    } catch (error) {
      setChildren(this.evals, errorBox(error));
    }
  }

  async loadFailing() {
    try {
      const q = new URLSearchParams({ passed: "false", limit: "50" });
      const since = this.since();
      if (since) q.set("since", since);
      const { evaluations } = await api("/api/v1/evaluations?" + q);
      if (this.aborted) return;
      setChildren(this.failing, h("div", { class: "table-wrap scroll" }, h("table", { class: "grid", "data-testid": "failing-evals" },
        h("thead", {}, h("tr", {}, ["Time", "Evaluator", "Model", "Service", "Score", "Label", "Explanation", "Span"].map((t) => h("th", { class: t === "Score" ? "num" : "" }, t)))),
        h("tbody", {}, evaluations.length ? evaluations.map((e) => h("tr", { "data-testid": "failing-row", "data-span-id": e.span_id || "" },
          h("td", { class: "mono nowrap" }, fmtTime(e.time_unix_nano)), h("td", { class: "name" }, e.name, e.source ? h("span", { class: "tag" }, e.source) : null),
          h("td", {}, e.model || "—"), h("td", {}, e.service || "—"), h("td", { class: "num" }, fmtScore(e.score)), h("td", {}, e.label || "—"),
          h("td", { class: "muted" }, e.explanation || ""),
          h("td", { class: "mono" }, e.trace_id && e.span_id ? h("a", { href: traceLink(e.trace_id, e.span_id), "data-testid": "failing-link" }, e.span_id) : (e.span_id || "—"))))
          : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No failing evaluations in this range."))))));
    } catch (error) {
      setChildren(this.failing, errorBox(error));
    }
  }

  async loadDrift() {
    let alerts = [];
    try {
      const q = new URLSearchParams({ limit: "200" });
      const since = this.since();
      if (since) q.set("since", since);
      ({ alerts } = await api("/api/v1/drift/alerts?" + q));
      if (this.aborted) return;
      setChildren(this.alerts, h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "drift-alerts" },
        h("thead", {}, h("tr", {}, ["Window", "Scope", "Feature", "Method", "Score", "p-value", "Severity", "Samples"].map((t) =>
          h("th", { class: ["Score", "p-value", "Samples"].includes(t) ? "num" : "" }, t)))),
        h("tbody", {}, alerts.length ? alerts.map((a) => h("tr", { "data-testid": "drift-alert", "data-scope": a.scope, "data-feature": a.feature },
          h("td", { class: "mono nowrap" }, `${fmtText(a.window_start)} – ${fmtText(a.window_end)}`),
          h("td", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); navigate("quality", null, this.state({ scope: a.scope })); } }, a.scope),
            h("span", { class: "muted small" }, " " + a.scope_kind)),
          h("td", {}, a.feature), h("td", {}, a.method),
          h("td", { class: "num", "data-col": "score" }, fmtScore(a.score)), h("td", { class: "num" }, fmtScore(a.p_value)),
          h("td", {}, h("span", { class: "pill " + (a.severity === "significant" ? "status-error" : "status-warn") }, a.severity)),
          h("td", { class: "num" }, `${fmtInt(a.samples)} vs ${fmtInt(a.reference_samples)}`)))
          : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No drift in this range."))))));
    } catch (error) {
      setChildren(this.alerts, errorBox(error));
    }
    if (!this.scope && alerts.length) this.scope = alerts[0].scope;
    const scopes = [...new Set(alerts.map((a) => a.scope))];
    if (this.scope && !scopes.includes(this.scope)) scopes.unshift(this.scope);
    this.loadHeatmap(scopes);
  }

  async loadHeatmap(scopes) {
    const input = h("input", { value: this.scope, list: "drift-scopes", placeholder: "model", "data-testid": "heatmap-scope", "aria-label": "Scope" });
    const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); navigate("quality", null, this.state({ scope: input.value.trim() })); } },
      h("label", {}, h("span", {}, "Scope"), input), h("datalist", { id: "drift-scopes" }, scopes.map((s) => h("option", { value: s }))),
      h("button", { type: "submit" }, "Show"));
    if (!this.scope) { setChildren(this.heat, form, h("div", { class: "empty" }, "No drift alerts: name a scope to see its heatmap.")); return; }
    setChildren(this.heat, form, h("div", { class: "empty" }, "Computing…"));
    try {
      const q = new URLSearchParams({ scope: this.scope });
      const since = this.since();
      if (since) q.set("since", since);
      // At most 500 windows of the drift window: a month shows its last week.
      let note = null;
      if (this.range === "30d") {
        q.set("since", sinceOf("7d"));
        note = h("div", { class: "muted small", "data-testid": "heatmap-note" }, "The heatmap shows the last 7 days of the range: it holds at most 500 windows.");
      }
      const [map, refs] = await Promise.all([api("/api/v1/drift/heatmap?" + q), api("/api/v1/drift/references")]);
      if (this.aborted) return;
      setChildren(this.heat, form, note, h("div", { class: "heatmap-layout" }, this.heatmap(map), this.references(map, refs)));
      // The newest windows first in sight: a wide map scrolls back in time.
      for (const wrap of this.heat.querySelectorAll(".heatmap-wrap")) wrap.scrollLeft = wrap.scrollWidth;
    } catch (error) {
      setChildren(this.heat, form, errorBox(error));
    }
  }

  heatmap(map) {
    const method = (feature) => (feature === "embedding" ? "mmd" : "psi");
    const cells = [];
    const grid = h("table", { class: "heatmap", "data-testid": "heatmap" },
      h("thead", {}, h("tr", {}, h("th", { class: "corner" }, ""), map.windows.map((w) => h("th", { title: fmtText(w) }, shortLabel(w))))),
      h("tbody", {}, map.features.map((feature, row) => h("tr", {}, h("th", { class: "feature" }, feature, h("span", { class: "muted small" }, " " + method(feature))),
        map.windows.map((w, col) => {
          const score = map.scores[row][col], severity = map.severities[row][col];
          const cell = h("td", { "data-testid": "heatmap-cell", class: "sev-" + (severity || "none"), "data-feature": feature, "data-window": w, "data-score": score === null ? "" : String(score),
            style: `background:${cellColor(score, severity, method(feature))}`,
            title: `${feature} (${method(feature) === "mmd" ? "MMD²" : "PSI"}), window ${fmtText(w)}: ${score === null ? "too few spans" : fmtScore(score) + " — " + severity}` },
          score === null ? "" : fmtScore(score));
          cells.push({ feature, w, score, severity });
          return cell;
        })))));
    const table = h("table", { class: "grid compact", hidden: true, "data-testid": "heatmap-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Feature"), h("th", {}, "Window"), h("th", { class: "num" }, "Score"), h("th", {}, "Severity"))),
      h("tbody", {}, cells.map((c) => h("tr", {}, h("td", {}, c.feature), h("td", { class: "mono" }, fmtText(c.w)),
        h("td", { class: "num" }, fmtScore(c.score)), h("td", {}, c.severity || "—")))));
    const wrap = h("div", { class: "heatmap-wrap" }, map.features.length ? grid
      : h("div", { class: "empty", "data-testid": "heatmap-empty" }, "No feature of this scope has enough spans in these windows and their references."));
    const toggle = h("button", { class: "link", "data-testid": "heatmap-toggle", onclick: () => {
      table.hidden = !table.hidden; wrap.hidden = !table.hidden; toggle.textContent = table.hidden ? "Table" : "Heatmap";
    } }, "Table");
    const swatch = (color, text) => h("span", {}, h("i", { style: `background:${color}` }), text);
    const legend = h("div", { class: "legend", "data-testid": "heatmap-legend" },
      swatch(cellColor(0, "none", "psi"), "none"), swatch(cellColor(0.5, "none", "psi"), "none, higher"),
      swatch(cellColor(0, "moderate", "psi"), "moderate"), swatch(cellColor(0.5, "moderate", "psi"), "moderate, higher"),
      swatch(cellColor(0.25, "significant", "psi"), "significant"), swatch(cellColor(0.5, "significant", "psi"), "significant, higher"),
      swatch(cellColor(null), "too few spans"));
    return h("section", { class: "chart-card" },
      h("div", { class: "chart-head" }, h("h3", {}, `${map.scope_kind} ${map.scope}: PSI, MMD² for embedding, windows of ${map.step_seconds >= 3600 ? map.step_seconds / 3600 + " h" : map.step_seconds / 60 + " min"}`), h("span", { class: "spacer" }), toggle),
      legend, wrap, table,
      h("div", { class: "muted small" }, "Hue: the severity of the score; depth: the score (PSI up to 0.5, MMD² up to 0.1). Hover a cell for its value."));
  }

  references(map, refs) {
    const pinned = refs.pinned.find((p) => p.scope === map.scope && p.scope_kind === map.scope_kind);
    const c = refs.configured;
    const configured = c.mode === "fixed" ? `fixed: ${fmtText(c.since)} – ${fmtText(c.until)}`
      : `rolling: the ${c.length_seconds / 3600} h ending ${c.offset_seconds / 3600} h before each window`;
    const step = map.step_seconds * 1000;
    const first = map.windows.length ? map.windows[Math.max(0, map.windows.length - 2)] : map.since;
    const since = h("input", { type: "datetime-local", step: "1", value: toLocalInput(first), "data-testid": "pin-since", "aria-label": "Reference since" });
    const until = h("input", { type: "datetime-local", step: "1", value: toLocalInput(new Date(Date.parse(first) + step).toISOString()), "data-testid": "pin-until", "aria-label": "Reference until" });
    const message = h("div");
    const act = async (method, body) => {
      try {
        await api(`/api/v1/drift/references/${encodeURIComponent(map.scope)}`, { method, body });
        this.loadHeatmap([map.scope]);
      } catch (error) { setChildren(message, errorBox(error)); }
    };
    return h("section", { class: "chart-card", "data-testid": "drift-references" },
      h("h3", {}, "Reference"),
      h("dl", { class: "facts" },
        h("dt", {}, "Configured"), h("dd", {}, configured),
        h("dt", {}, "In use"), h("dd", { "data-testid": "reference-in-use" }, pinned ? `pinned: ${fmtText(pinned.since)} – ${fmtText(pinned.until)}` : "configured")),
      pinned ? h("div", { class: "toolbar" }, h("span", { class: "muted small" }, `pinned ${fmtText(pinned.pinned_at)}`),
        h("button", { "data-testid": "unpin-reference", onclick: () => act("DELETE") }, "Unpin")) : null,
      h("form", { class: "filters", onsubmit: (e) => {
        e.preventDefault();
        act("PUT", { since: fromLocalInput(since.value), until: fromLocalInput(until.value) });
      } }, h("label", {}, h("span", {}, "Since"), since), h("label", {}, h("span", {}, "Until"), until),
      h("button", { type: "submit", class: "primary", "data-testid": "pin-reference" }, pinned ? "Pin instead" : "Pin reference")),
      message,
      refs.pinned.length ? h("div", { class: "muted small" }, "Pinned: " + refs.pinned.map((p) => p.scope).join(", ")) : null);
  }
}
