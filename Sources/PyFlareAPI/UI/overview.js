// The overview: requests, errors, latency, tokens and cost over the chosen range, by model and
// by service, with the ongoing root-cause patterns and the budgets nearest their limit.
import { setChildren, api, h, fmtCost, fmtInt, navigate, errorBox } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { timeChart } from "./chart.js";

const percent = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const ms = (v) => (v === null || v === undefined ? "—" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const dollars = (micros) => fmtCost(micros);

function bucketLabel(text, interval) {
  const d = new Date(text), p = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return interval === "1d" ? day : `${day} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export class OverviewView {
  constructor(root) { this.root = root; }

  mount(_id, params) {
    this.params = params;
    const range = params.get("range") || "24h";
    const select = h("select", { "aria-label": "Time range", onchange: () => navigate("overview", null, { range: select.value }) },
      RANGES.filter(([v]) => v).map(([v, t]) => h("option", { value: v, selected: v === range }, t)));
    this.body = h("div", {}, h("div", { class: "empty" }, "Loading…"));
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Overview"), h("span", { class: "spacer" }), select), this.body);
    this.load(range);
  }

  unmount() {}

  async load(range) {
    try {
      const q = new URLSearchParams({ since: sinceOf(range) });
      const [o, patterns, budgets] = await Promise.all([
        api("/api/v1/overview?" + q),
        api("/api/v1/rca/patterns?status=ongoing&limit=5").catch(() => ({ patterns: [] })),
        api("/api/v1/costs/budgets").catch(() => ({ budgets: [] }))]);
      const t = o.totals;
      const stat = (label, value, testid) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", "data-testid": testid }, value));
      const points = (pick) => o.series.map((b) => ({ label: bucketLabel(b.start, o.interval), values: pick(b) }));
      const group = (title, rows, testid) => h("section", { class: "panel-section" }, h("h3", {}, title),
        h("table", { class: "grid compact", "data-testid": testid },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Requests"), h("th", { class: "num" }, "Errors"),
            h("th", { class: "num" }, "p95"), h("th", { class: "num" }, "Tokens"), h("th", { class: "num" }, "Cost"))),
          h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.name || "(none)"), h("td", { class: "num" }, fmtInt(r.requests)),
            h("td", { class: "num" }, `${fmtInt(r.errors)} (${percent(r.error_rate)})`), h("td", { class: "num" }, ms(r.p95_ms)),
            h("td", { class: "num" }, fmtInt(r.tokens)), h("td", { class: "num" }, dollars(r.cost_micros)))))));
      const nearest = budgets.budgets.slice().sort((a, b) => b.percent_used - a.percent_used).slice(0, 5);
      setChildren(this.body,
        h("div", { class: "usage overview-stats", "data-testid": "overview-totals" },
          stat("Requests", fmtInt(t.requests), "total-requests"), stat("Errors", `${fmtInt(t.errors)} (${percent(t.error_rate)})`, "total-errors"),
          stat("p50 latency", ms(t.p50_ms), "total-p50"), stat("p95 latency", ms(t.p95_ms), "total-p95"),
          stat("Tokens", fmtInt(t.tokens), "total-tokens"), stat("Cost", dollars(t.cost_micros), "total-cost")),
        h("div", { class: "charts" },
          timeChart({ title: "Requests and errors", testid: "chart-requests", points: points((b) => [b.requests, b.errors]),
            series: [{ name: "requests", color: "#5b7bd5", format: (v) => fmtInt(Math.round(v)) }, { name: "errors", color: "#d64545", format: (v) => fmtInt(Math.round(v)) }] }),
          timeChart({ title: "Latency", testid: "chart-latency", points: points((b) => [b.p50_ms, b.p95_ms]),
            series: [{ name: "p50", color: "#5aa469", format: ms, kind: "line" }, { name: "p95", color: "#e0a030", format: ms, kind: "line" }] }),
          timeChart({ title: "Cost", testid: "chart-cost", points: points((b) => [b.cost_micros]),
            series: [{ name: "cost", color: "#8a63d2", format: (v) => dollars(Math.round(v)) }] })),
        h("div", { class: "columns" }, group("By model", o.models, "by-model"), group("By service", o.services, "by-service")),
        h("div", { class: "columns" },
          h("section", { class: "panel-section" }, h("h3", {}, "Ongoing patterns"),
            patterns.patterns.length ? h("ul", { class: "plain", "data-testid": "overview-patterns" }, patterns.patterns.map((p) =>
              h("li", {}, h("span", { class: "pill status-error" }, p.type), " ", p.description, h("span", { class: "muted" }, ` severity ${Number(p.severity).toFixed(2)}`))))
              : h("div", { class: "muted" }, "None.")),
          h("section", { class: "panel-section" }, h("h3", {}, "Budgets nearest their limit"),
            nearest.length ? h("table", { class: "grid compact", "data-testid": "overview-budgets" }, h("tbody", {}, nearest.map((b) => h("tr", {},
              h("td", {}, `${b.dimension}${b.value ? " " + b.value : ""} (${b.period})`), h("td", { class: "num" }, `$${b.spent_usd} of $${b.limit_usd}`),
              h("td", { class: "num" }, `${b.percent_used}%`), h("td", {}, h("span", { class: "pill " + (b.status === "ok" ? "status-ok" : "status-error") }, b.status))))))
              : h("div", { class: "muted" }, "No budgets."))),
        h("div", { class: "muted small" }, `Rollups of ${o.interval} buckets, materialized ${o.materialized_at || "never"}.`));
    } catch (error) {
      setChildren(this.body, errorBox(error));
    }
  }
}
