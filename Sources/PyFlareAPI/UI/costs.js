// Costs: spend over time by any dimension of the cost summary, the top spenders with their cost
// per request and unpriced calls, the budgets (create, edit, delete, alert history) and the
// price list with where each price came from (editable with an admin key).
import { setChildren, api, h, fmtCost, fmtInt, navigate, errorBox } from "./util.js";
import { RANGES, sinceOf } from "./traces.js";
import { timeChart, SERIES_COLORS, OTHER_COLOR } from "./chart.js";

const DIMENSIONS = ["model", "provider", "service", "environment", "user", "feature", "team"];
const BUDGET_DIMENSIONS = ["global", "model", "provider", "service", "environment", "user", "feature", "team"];
const PERIODS = ["hourly", "daily", "weekly", "monthly"];
/** The dimensions the trace list filters on: a spender links to its traces. */
const TRACE_FILTERS = ["model", "service", "user", "feature", "environment"];
const perRequest = (g) => (g.requests ? fmtCost(Math.round(g.cost_micros / g.requests)) : "—");

function bucketLabel(text, interval) {
  const d = new Date(text), p = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return interval === "1d" ? day : `${day} ${p(d.getHours())}:00`;
}

export class CostsView {
  constructor(root) { this.root = root; }

  mount(_id, params) {
    const state = { range: params.get("range") || "24h", group_by: params.get("group_by") || "model", interval: params.get("interval") || "1h" };
    this.state = state;
    const go = (change) => navigate("costs", null, { ...state, ...change });
    const select = (label, value, options, key) => h("select", { "aria-label": label, "data-testid": "costs-" + key, onchange: (e) => go({ [key]: e.target.value }) },
      options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
    this.body = h("div", {}, h("div", { class: "empty" }, "Loading…"));
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Costs"), h("span", { class: "spacer" }),
      select("Group by", state.group_by, DIMENSIONS.map((d) => [d, "By " + d]), "group_by"),
      select("Interval", state.interval, [["1h", "Hourly"], ["1d", "Daily"]], "interval"),
      select("Time range", state.range, RANGES.filter(([v]) => v).map(([v, t]) => [v, t]), "range")), this.body);
    this.focusBudget = params.get("budget");
    this.load();
  }

  unmount() {}

  async load() {
    const { range, group_by, interval } = this.state;
    try {
      const q = new URLSearchParams({ since: sinceOf(range), group_by, interval });
      const [summary, budgets, pricing] = await Promise.all([api("/api/v1/costs/summary?" + q), api("/api/v1/costs/budgets"), api("/api/v1/pricing")]);
      this.budgetSection = h("section", { class: "panel-section" });
      this.pricingSection = h("section", { class: "panel-section" });
      setChildren(this.body, this.summary(summary), this.budgetSection, this.pricingSection);
      this.renderBudgets(budgets.budgets);
      this.renderPricing(pricing);
    } catch (error) {
      setChildren(this.body, errorBox(error));
    }
  }

  summary(s) {
    const t = s.total;
    const groups = s.other ? [...s.groups, { ...s.other, key: "other", isOther: true }] : s.groups;
    const charted = chartedGroups(groups);
    const starts = [...new Set(charted.flatMap((g) => g.series.map((b) => b.start)))].sort();
    const points = starts.map((start) => ({ label: bucketLabel(start, s.interval),
      values: charted.map((g) => g.series.filter((x) => x.start === start).reduce((sum, b) => sum + b.cost_micros, 0)) }));
    const stat = (label, value, testid) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", "data-testid": testid }, value));
    return h("div", {},
      h("div", { class: "usage overview-stats", "data-testid": "cost-totals" },
        stat("Spend", fmtCost(t.cost_micros), "cost-total"), stat("Requests", fmtInt(t.requests), "cost-requests"),
        stat("Cost per request", perRequest(t), "cost-per-request"),
        stat("Tokens in / out", `${fmtInt(t.input_tokens)} / ${fmtInt(t.output_tokens)}`, "cost-tokens"),
        stat("Unpriced calls", fmtInt(t.unpriced_requests), "cost-unpriced")),
      t.unpriced_requests > 0 ? h("div", { class: "error-box", "data-testid": "unpriced-warning" },
        h("strong", {}, "Unpriced calls: "), `${fmtInt(t.unpriced_requests)} calls have a model with no price, so their cost is not counted. `,
        "Add a price below, or in pricing.models of the configuration.") : null,
      h("div", { class: "charts" }, timeChart({ title: `Spend by ${s.group_by}`, testid: "chart-spend", points,
        series: charted.map((g, i) => ({ name: g.isOther ? "other" : g.key || "(none)", color: g.isOther ? OTHER_COLOR : SERIES_COLORS[i],
          format: (v) => fmtCost(Math.round(v)) })) })),
      h("h3", { class: "section-title" }, `Top spenders by ${s.group_by}`, h("span", { class: "muted" }, ` (${fmtInt(s.group_count)} in all)`)),
      h("table", { class: "grid compact", "data-testid": "top-spenders" },
        h("thead", {}, h("tr", {}, h("th", {}, s.group_by), h("th", { class: "num" }, "Requests"), h("th", { class: "num" }, "Input tokens"),
          h("th", { class: "num" }, "Output tokens"), h("th", { class: "num" }, "Cost"), h("th", { class: "num" }, "Per request"), h("th", { class: "num" }, "Unpriced"))),
        h("tbody", {}, groups.map((g) => h("tr", { "data-key": g.key },
          h("td", {}, g.isOther ? h("span", { class: "muted" }, "all others") : TRACE_FILTERS.includes(s.group_by) && g.key
            ? h("a", { href: `#/traces?${new URLSearchParams({ [s.group_by]: g.key, since: sinceOf(this.state.range) })}` }, g.key) : g.key || "(none)"),
          h("td", { class: "num" }, fmtInt(g.requests)), h("td", { class: "num" }, fmtInt(g.input_tokens)), h("td", { class: "num" }, fmtInt(g.output_tokens)),
          h("td", { class: "num", "data-testid": "group-cost" }, fmtCost(g.cost_micros)), h("td", { class: "num" }, perRequest(g)),
          h("td", { class: "num" + (g.unpriced_requests ? " error-text" : "") }, fmtInt(g.unpriced_requests)))))),
      h("div", { class: "muted small" }, `Prices ${s.pricing_version}; materialized ${s.materialized_at || "never"}.`));
  }

  // ---- budgets ----

  renderBudgets(budgets) {
    this.budgetError = h("div");
    const rows = budgets.map((b) => {
      const history = h("tr", { hidden: true, class: "budget-history" }, h("td", { colspan: "9" }));
      const row = h("tr", { "data-budget-id": b.id, class: String(b.id) === this.focusBudget ? "selected" : "" },
        h("td", {}, b.dimension === "global" ? "all spend" : `${b.dimension} ${b.value}`), h("td", {}, b.period),
        h("td", { class: "num" }, `$${b.limit_usd}`), h("td", { class: "num", "data-testid": "budget-spent" }, `$${b.spent_usd}`),
        h("td", { class: "num" }, `$${b.remaining_usd}`), h("td", { class: "num", "data-testid": "budget-percent" }, `${b.percent_used}%`),
        h("td", { class: "num" }, `$${b.forecast_usd}`),
        h("td", {}, h("span", { class: "pill " + (b.status === "ok" ? "status-ok" : "status-error") }, b.status)),
        h("td", { class: "nowrap" },
          h("button", { class: "link", onclick: () => this.showHistory(b, history) }, "Alerts"),
          h("button", { class: "link", onclick: () => this.fillForm(b) }, "Edit"),
          h("button", { class: "link", onclick: () => { if (confirm(`Delete the budget ${b.dimension} ${b.value || ""}?`)) this.budgetAction(`/api/v1/costs/budgets/${b.id}`, "DELETE"); } }, "Delete")));
      return [row, history];
    });
    setChildren(this.budgetSection, h("h3", {}, "Budgets"), this.budgetForm(),
      h("table", { class: "grid compact", "data-testid": "budgets" },
        h("thead", {}, h("tr", {}, ["Budget", "Period", "Limit", "Spent", "Remaining", "Used", "Forecast", "Status", ""].map((t, i) => h("th", { class: i >= 2 && i <= 6 ? "num" : "" }, t)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "9", class: "empty" }, "No budgets: create one above.")))));
    if (this.focusBudget) {
      const focused = budgets.find((b) => String(b.id) === this.focusBudget);
      if (focused) this.showHistory(focused, rows[budgets.indexOf(focused)][1]);
    }
  }

  budgetForm() {
    const f = this.budgetInputs = {};
    const field = (name, label, el) => h("label", { "data-field": name }, h("span", {}, label), f[name] = el);
    this.editing = null;
    this.submitButton = h("button", { type: "submit", class: "primary" }, "Create budget");
    return h("form", { class: "filters", "data-testid": "budget-form", onsubmit: (e) => { e.preventDefault(); this.saveBudget(); } },
      field("dimension", "Dimension", h("select", {}, BUDGET_DIMENSIONS.map((d) => h("option", { value: d }, d)))),
      field("value", "Value", h("input", { placeholder: "e.g. gpt-4o (not for global)" })),
      field("period", "Period", h("select", {}, PERIODS.map((p) => h("option", { value: p, selected: p === "monthly" }, p)))),
      field("limit", "Limit (USD)", h("input", { type: "number", step: "any", min: "0", required: true, class: "narrow" })),
      field("thresholds", "Alert at (%)", h("input", { value: "50, 80, 100", class: "narrow" })),
      this.submitButton, this.budgetError);
  }

  fillForm(budget) {
    const f = this.budgetInputs;
    f.dimension.value = budget.dimension;
    f.value.value = budget.value || "";
    f.period.value = budget.period;
    f.limit.value = budget.limit_usd;
    f.thresholds.value = budget.alert_thresholds.map((t) => Math.round(t * 100)).join(", ");
    this.editing = budget.id;
    this.submitButton.textContent = `Save budget ${budget.id}`;
  }

  async saveBudget() {
    const f = this.budgetInputs;
    const body = { dimension: f.dimension.value, period: f.period.value, limit_usd: Number(f.limit.value),
      alert_thresholds: f.thresholds.value.split(",").map((t) => Number(t.trim()) / 100).filter((t) => t > 0) };
    if (f.dimension.value !== "global") body.value = f.value.value.trim();
    const path = this.editing ? `/api/v1/costs/budgets/${this.editing}` : "/api/v1/costs/budgets";
    await this.budgetAction(path, this.editing ? "PUT" : "POST", body);
  }

  async budgetAction(path, method, body) {
    try {
      await api(path, { method, body });
      const { budgets } = await api("/api/v1/costs/budgets");
      this.renderBudgets(budgets);
    } catch (error) {
      setChildren(this.budgetError, errorBox(error));
    }
  }

  async showHistory(budget, row) {
    row.hidden = !row.hidden;
    if (row.hidden) return;
    try {
      const { alerts } = await api(`/api/v1/costs/budgets/${budget.id}/alerts`);
      setChildren(row.firstChild, alerts.length ? h("table", { class: "grid compact", "data-testid": "budget-alerts" },
        h("thead", {}, h("tr", {}, ["Fired", "Threshold", "Spent", "Limit", "Period"].map((t) => h("th", {}, t)))),
        h("tbody", {}, alerts.map((a) => h("tr", {}, h("td", { class: "mono" }, a.fired_at), h("td", {}, `${Math.round(a.threshold * 100)}%`),
          h("td", {}, `$${a.spent_usd}`), h("td", {}, `$${a.limit_usd}`), h("td", { class: "mono" }, `${a.period_start} – ${a.period_end}`))))) :
        h("div", { class: "muted" }, "No threshold reached yet."));
    } catch (error) {
      setChildren(row.firstChild, errorBox(error));
    }
  }

  // ---- prices ----

  renderPricing(pricing) {
    this.priceError = h("div");
    const input = (value, name) => h("input", { type: "number", step: "any", min: "0", value: value ?? "", class: "narrow", "data-price": name });
    const rows = pricing.models.map((m) => {
      const cells = { input: input(m.input, "input"), output: input(m.output, "output"), cache_read: input(m.cache_read, "cache_read") };
      return h("tr", { "data-model": m.model }, h("td", { class: "mono" }, m.model), h("td", {}, m.provider || "—"),
        h("td", {}, cells.input), h("td", {}, cells.output), h("td", {}, cells.cache_read),
        h("td", {}, h("span", { class: "tag", "data-testid": "price-source" }, m.source)),
        h("td", {}, h("button", { class: "link", onclick: () => this.savePrice(m, cells) }, "Save")));
    });
    setChildren(this.pricingSection, h("h3", {}, "Prices ", h("span", { class: "muted" }, `(USD per million tokens, version ${pricing.version})`)),
      this.priceError,
      h("div", { class: "table-wrap tall" }, h("table", { class: "grid compact", "data-testid": "prices" },
        h("thead", {}, h("tr", {}, ["Model", "Provider", "Input", "Output", "Cache read", "Source", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))),
      h("div", { class: "muted small" }, "Source: built-in (pricing.json), config (pricing.models) or api (set here). Saving needs an admin key."));
  }

  async savePrice(model, cells) {
    const body = { provider: model.provider || undefined, input: Number(cells.input.value), output: Number(cells.output.value) };
    if (cells.cache_read.value !== "") body.cache_read = Number(cells.cache_read.value);
    try {
      await api(`/api/v1/pricing/${encodeURIComponent(model.model)}`, { method: "PUT", body });
      this.renderPricing(await api("/api/v1/pricing"));
    } catch (error) {
      setChildren(this.priceError, errorBox(error));
    }
  }
}

/** The groups a chart draws: one colour each, so past the palette the smallest are drawn as one "other". */
function chartedGroups(groups) {
  const named = groups.filter((g) => !g.isOther);
  if (named.length <= SERIES_COLORS.length) return groups;
  const kept = named.slice(0, SERIES_COLORS.length - 1);
  const rest = [...named.slice(SERIES_COLORS.length - 1), ...groups.filter((g) => g.isOther)];
  return [...kept, { key: "other", isOther: true, series: rest.flatMap((g) => g.series) }];
}

