// Root cause: the patterns found (with the series behind each and what to do), the slices that
// deviate most (ranked, each one click from its traces) and the failure clusters (template,
// size, count series, representative error, where they happen, sample traces).
import { setChildren, api, h, fmtCost, fmtInt, navigate, errorBox, traceLink } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { timeChart, SERIES_COLORS as COLORS } from "./chart.js";

/** Names of the numbers after the time in each row of a pattern's evidence series. */
const SERIES_NAMES = { error_spike: ["requests", "errors"], latency_degradation: ["p95 ms", "requests"] };
const TRACE_FILTERS = ["model", "service", "user", "feature", "environment", "session"];
const fmtNumber = (v) => (v === null || v === undefined ? "—" : Math.abs(v) >= 100 ? fmtInt(Math.round(v))
  : Math.abs(v) >= 1 ? String(Number(v.toFixed(2))) : String(Number(v.toPrecision(3))));
const fmtP = (v) => (v === null || v === undefined ? "—" : v < 1e-4 ? v.toExponential(1) : v.toFixed(4));

function label(text) {
  const d = new Date(text), p = (n) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export class RootCauseView {
  constructor(root) { this.root = root; }

  mount(_id, params) {
    this.range = params.get("range") || "24h";
    this.focus = params.get("pattern");
    const select = h("select", { "aria-label": "Time range", onchange: () => navigate("rca", null, { range: select.value }) },
      RANGES.filter(([v]) => v).map(([v, t]) => h("option", { value: v, selected: v === this.range }, t)));
    this.body = h("div", {}, h("div", { class: "empty" }, "Loading…"));
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Root cause"), h("span", { class: "spacer" }), select), this.body);
    this.load();
  }

  unmount() {}

  async load() {
    try {
      const since = sinceOf(this.range);
      const [patterns, slices, clusters] = await Promise.all([
        api("/api/v1/rca/patterns?" + new URLSearchParams({ since, limit: 50 })),
        api("/api/v1/rca/slices?" + new URLSearchParams({ limit: 50 })),
        api("/api/v1/rca/clusters?" + new URLSearchParams({ since, limit: 50 }))]);
      setChildren(this.body, this.patterns(patterns.patterns), this.slices(slices), this.clusters(clusters.clusters));
      const focused = this.focus && this.body.querySelector(`[data-pattern-id="${CSS.escape(this.focus)}"]`);
      if (focused) focused.scrollIntoView({ block: "start" });
    } catch (error) {
      setChildren(this.body, errorBox(error));
    }
  }

  patterns(patterns) {
    const cards = patterns.map((p) => {
      const evidence = p.evidence || {};
      const numbers = Object.entries(evidence).filter(([, v]) => typeof v === "number" || typeof v === "string");
      let chart = null;
      if (Array.isArray(evidence.series) && evidence.series.length && Array.isArray(evidence.series[0])) {
        const names = SERIES_NAMES[p.type] || evidence.series[0].slice(1).map((_, i) => `value ${i + 1}`);
        chart = timeChart({ title: "Evidence", testid: "pattern-series-" + p.id, height: 110,
          points: evidence.series.map((row) => ({ label: label(row[0]), values: row.slice(1) })),
          series: names.map((name, i) => ({ name, color: COLORS[i % COLORS.length], format: fmtNumber, kind: i === 0 && names.length > 1 ? "bar" : "line" })) });
      }
      const scope = Object.entries(p.scope || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "all traffic";
      return h("section", { class: "panel-section pattern" + (p.id === this.focus ? " selected" : ""), "data-pattern-id": p.id, "data-testid": "pattern" },
        h("h3", {}, h("span", { class: "pill " + (p.end ? "status-ok" : "status-error") }, p.type), p.end ? " ended" : " ongoing"),
        h("p", { class: "description", "data-testid": "pattern-description" }, p.description),
        h("div", { class: "muted" }, `scope ${scope} · severity `, h("strong", { "data-testid": "pattern-severity" }, Number(p.severity).toFixed(2)),
          ` · ${p.start}${p.end ? " – " + p.end : " – ongoing"}`),
        numbers.length ? h("div", { class: "tags" }, numbers.map(([k, v]) => h("span", { class: "tag" }, `${k}: ${typeof v === "number" ? fmtNumber(v) : v}`))) : null,
        chart,
        (p.suggested_actions || []).length ? h("ul", { class: "plain" }, p.suggested_actions.map((a) => h("li", {}, "→ ", typeof a === "string" ? a : JSON.stringify(a)))) : null);
    });
    return h("div", { "data-testid": "patterns" }, h("h2", { class: "section-title" }, "Patterns"),
      cards.length ? cards : h("div", { class: "muted" }, "No pattern in this range."));
  }

  slices(answer) {
    const rows = answer.slices.map((s, rank) => {
      const definition = s.definition || {};
      const query = Object.fromEntries(Object.entries(definition).filter(([k]) => TRACE_FILTERS.includes(k)));
      if (s.metric === "error_rate") query.status = "error";
      if (answer.since) query.since = answer.since;
      const impact = s.impact_unit === "usd" ? fmtCost(Math.round(s.impact_score * 1e6)) : `${fmtNumber(s.impact_score)} ${s.impact_unit}`;
      return h("tr", { "data-testid": "slice" }, h("td", { class: "num" }, rank + 1),
        h("td", {}, Object.entries(definition).map(([k, v]) => h("span", { class: "tag" }, `${k}=${v}`))),
        h("td", {}, s.metric), h("td", { class: "num" }, fmtNumber(s.metric_value)), h("td", { class: "num" }, fmtNumber(s.baseline_value)),
        h("td", { class: "num" }, s.deviation_percentage === null ? fmtNumber(s.deviation) : `${s.deviation_percentage > 0 ? "+" : ""}${fmtNumber(s.deviation_percentage)}%`),
        h("td", { class: "num" }, fmtP(s.p_value)), h("td", { class: "num", "data-testid": "slice-impact" }, impact), h("td", { class: "num" }, fmtInt(s.sample_count)),
        h("td", {}, h("a", { href: "#/traces?" + new URLSearchParams(query), "data-testid": "slice-traces" }, "traces")));
    });
    return h("div", {}, h("h2", { class: "section-title" }, "Slices ", h("span", { class: "muted" }, answer.analyzed_at ? `analyzed ${answer.analyzed_at}` : "not analyzed yet")),
      h("div", { class: "table-wrap" }, h("table", { class: "grid compact", "data-testid": "slices" },
        h("thead", {}, h("tr", {}, ["#", "Slice", "Metric", "Value", "Baseline", "Deviation", "p-value", "Impact", "Samples", ""].map((t, i) => h("th", { class: [0, 3, 4, 5, 6, 7, 8].includes(i) ? "num" : "" }, t)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "10", class: "empty" }, "No significant slice."))))));
  }

  clusters(clusters) {
    const cards = clusters.map((c) => {
      const counts = (items) => (items || []).map((i) => h("span", { class: "tag" }, `${i.name || "(none)"} ${fmtInt(i.count)}`));
      const chart = (c.series || []).length ? timeChart({ title: "Failures over time", testid: "cluster-series-" + c.id, height: 90,
        points: c.series.map((b) => ({ label: label(b.time), values: [b.count] })), series: [{ name: "failures", color: "#d64545", format: (v) => fmtInt(Math.round(v)) }] }) : null;
      return h("section", { class: "panel-section", "data-testid": "cluster", "data-cluster-id": c.id },
        h("h3", {}, h("span", { class: "pill status-error", "data-testid": "cluster-size" }, fmtInt(c.size)), " failures"),
        h("p", {}, h("code", { "data-testid": "cluster-template" }, c.template)),
        h("div", { class: "error-text mono small" }, c.representative_error),
        h("div", { class: "muted" }, `${fmtInt(c.affected_trace_count)} traces, ${fmtInt(c.affected_user_count)} users · first ${c.first_seen} · last ${c.last_seen}`),
        h("div", { class: "tags" }, h("span", { class: "muted" }, "services "), counts(c.services), h("span", { class: "muted" }, " models "), counts(c.models)),
        chart,
        h("div", { class: "tags" }, h("span", { class: "muted" }, "sample traces "),
          (c.affected_traces || []).slice(0, 5).map((t) => h("a", { class: "mono", href: traceLink(t), "data-testid": "cluster-trace" }, t.slice(0, 16)))));
    });
    return h("div", { "data-testid": "clusters" }, h("h2", { class: "section-title" }, "Failure clusters"),
      cards.length ? cards : h("div", { class: "muted" }, "No failures clustered in this range."));
  }
}
