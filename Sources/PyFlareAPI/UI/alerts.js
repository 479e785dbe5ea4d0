// Alerts: the rules (create, enable or disable, silence, delete) and what they fired, each
// firing with its notifications' delivery state, so a failing channel is seen here.
import { setChildren, api, h, fmtTime, errorBox } from "./util.js";

const METRICS = [["error_rate", "Error rate (0–1)"], ["p95_latency_ms", "p95 latency (ms)"], ["cost_per_hour", "Cost per hour ($)"],
  ["unpriced_calls", "Unpriced calls"], ["requests", "Requests"]];
const DIMENSIONS = ["service", "model", "environment", "feature"];
const POLL_MS = 5000;

/** RFC 3339 text (what the API writes) as the UI's time format. */
const fmtText = (text) => (text ? fmtTime(Date.parse(text) * 1e6) : "—");

const scopeText = (filter, none) => Object.entries(filter || {}).map(([k, v]) => `${k}=${v}`).join(", ") || none;

function condition(rule) {
  if (rule.kind === "pattern") {
    return `pattern ${rule.types.length ? rule.types.join(", ") : "of any type"}, severity ≥ ${rule.min_severity} (escalations announced)`;
  }
  if (rule.kind === "drift") return `drift ${rule.severities.join(" or ")} within ${rule.window} (${scopeText(rule.filter, "every feature")})`;
  if (rule.kind === "budget") {
    const reached = rule.threshold == null ? "each of its alert thresholds" : `${Math.round(rule.threshold * 100)}% of its limit`;
    return `budget ≥ ${reached} (${scopeText(rule.filter, "every budget")})`;
  }
  const scope = Object.entries(rule.filter || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "all traffic";
  return `${rule.metric} ${rule.operator} ${rule.threshold} over ${rule.window} (${scope})`;
}

function channelText(channel) {
  return channel.type === "email" ? `email ${channel.to.join(", ")}` : `${channel.type} ${new URL(channel.url).host}`;
}

export class AlertsView {
  constructor(root) { this.root = root; this.timer = null; }

  mount() {
    this.rules = h("tbody");
    this.events = h("tbody");
    this.formError = h("div");
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Alerts")),
      this.form(),
      h("h2", { class: "section-title" }, "Rules"),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "alert-rules" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Condition"), h("th", {}, "Channels"), h("th", {}, "State"), h("th", {}, ""))),
        this.rules)),
      h("h2", { class: "section-title" }, "Events"),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "alert-events" },
        h("thead", {}, h("tr", {}, h("th", {}, "Fired"), h("th", {}, "State"), h("th", {}, "Summary"), h("th", {}, "Notifications"))),
        this.events)));
    this.load();
  }

  unmount() { clearTimeout(this.timer); }

  /** A rule of any kind with one channel: what most teams start with; the API takes every option. */
  form() {
    this.inputs = {};
    const field = (name, label, element, kinds) => h("label", { "data-kinds": kinds || "", "data-field": name },
      h("span", {}, label), this.inputs[name] = element);
    const kind = h("select", { onchange: () => this.showFields() }, [["metric", "Metric threshold"], ["pattern", "Pattern"],
      ["drift", "Drift"], ["budget", "Budget"]].map(([v, t]) => h("option", { value: v }, t)));
    this.formEl = h("form", { class: "filters", "data-testid": "alert-form", onsubmit: (e) => { e.preventDefault(); this.create(); } },
      field("name", "Name", h("input", { required: true, placeholder: "checkout errors" })),
      field("kind", "Kind", kind),
      field("metric", "Metric", h("select", {}, METRICS.map(([v, t]) => h("option", { value: v }, t))), "metric"),
      field("operator", "Operator", h("select", {}, [">", ">=", "<", "<="].map((o) => h("option", { value: o }, o))), "metric"),
      field("threshold", "Threshold", h("input", { type: "number", step: "any", class: "narrow" }), "metric"),
      field("window", "Window", h("input", { value: "15m", class: "narrow" }), "metric drift"),
      field("dimension", "Only", h("select", {}, [h("option", { value: "" }, "all traffic"), ...DIMENSIONS.map((d) => h("option", { value: d }, d))]), "metric"),
      field("value", "equal to", h("input", { placeholder: "value" }), "metric"),
      field("types", "Pattern types", h("input", { placeholder: "error_spike, cost_anomaly (empty: all)" }), "pattern"),
      field("min_severity", "Min severity", h("input", { type: "number", step: "0.05", min: "0", max: "1", value: "0.5", class: "narrow" }), "pattern"),
      field("severity", "Drift severity", h("select", {}, [["significant", "significant"], ["moderate", "moderate or significant"]]
        .map(([v, t]) => h("option", { value: v }, t))), "drift"),
      field("feature", "Feature", h("input", { placeholder: "input_tokens (empty: all)" }), "drift"),
      field("fraction", "Spent ≥ % of limit", h("input", { type: "number", step: "any", value: "80", placeholder: "its thresholds", class: "narrow" }), "budget"),
      field("budget", "Budget id", h("input", { placeholder: "empty: every budget", class: "narrow" }), "budget"),
      field("channel", "Channel", h("select", {}, ["webhook", "slack", "email"].map((c) => h("option", { value: c }, c)))),
      field("target", "URL or addresses", h("input", { class: "wide", placeholder: "https://hooks.slack.com/… or a@b.com, c@d.com" })),
      h("button", { type: "submit", class: "primary" }, "Create rule"),
      this.formError);
    this.showFields();
    return this.formEl;
  }

  /** Shows the fields of the chosen kind only. */
  showFields() {
    const kind = this.inputs.kind.value;
    for (const label of this.formEl.querySelectorAll("label[data-kinds]")) {
      const kinds = label.dataset.kinds;
      label.hidden = kinds !== "" && !kinds.split(" ").includes(kind);
    }
    this.inputs.threshold.required = kind === "metric";
    // Drift windows are an hour long: a rule looks back two unless told otherwise.
    const window = this.inputs.window;
    if (kind === "drift" && window.value === "15m") window.value = "2h";
    if (kind === "metric" && window.value === "2h") window.value = "15m";
  }

  async create() {
    const v = Object.fromEntries(Object.entries(this.inputs).map(([k, el]) => [k, el.value.trim()]));
    const body = { name: v.name, kind: v.kind };
    if (v.kind === "metric") {
      Object.assign(body, { metric: v.metric, operator: v.operator, threshold: Number(v.threshold), window: v.window });
      if (v.dimension && v.value) body.filter = { [v.dimension]: v.value };
    } else if (v.kind === "pattern") {
      body.types = v.types.split(",").map((t) => t.trim()).filter(Boolean);
      body.min_severity = Number(v.min_severity || 0);
    } else if (v.kind === "drift") {
      Object.assign(body, { window: v.window, severities: v.severity === "moderate" ? ["moderate", "significant"] : ["significant"] });
      if (v.feature) body.filter = { feature: v.feature };
    } else {
      if (v.fraction) body.threshold = Number(v.fraction) / 100;
      if (v.budget) body.filter = { budget: v.budget };
    }
    if (v.target) {
      body.channels = [v.channel === "email" ? { type: "email", to: v.target.split(",").map((a) => a.trim()).filter(Boolean) }
        : { type: v.channel, url: v.target }];
    }
    try {
      await api("/api/v1/alerts/rules", { method: "POST", body });
      setChildren(this.formError);
      this.inputs.name.value = "";
      this.load();
    } catch (error) {
      setChildren(this.formError, errorBox(error));
    }
  }

  async act(path, method, body) {
    try {
      await api(path, { method, body });
    } catch (error) {
      setChildren(this.formError, errorBox(error));
    }
    this.load();
  }

  async load() {
    clearTimeout(this.timer);
    try {
      const [{ rules }, { events }] = await Promise.all([api("/api/v1/alerts/rules"), api("/api/v1/alerts/events?limit=100")]);
      const names = Object.fromEntries(rules.map((r) => [r.id, r.name]));
      const ruleRows = rules.map((r) => h("tr", { "data-rule-id": r.id },
        h("td", { class: "name" }, r.name),
        h("td", {}, condition(r)),
        h("td", {}, r.channels.map((c) => h("span", { class: "tag" }, channelText(c)))),
        h("td", {}, r.enabled ? (r.silenced_until ? h("span", { class: "pill" }, "silenced until " + fmtText(r.silenced_until))
          : h("span", { class: "pill status-ok" }, "on")) : h("span", { class: "pill" }, "off")),
        h("td", { class: "nowrap" },
          r.silenced_until
            ? h("button", { class: "link", onclick: () => this.act(`/api/v1/alerts/rules/${r.id}/silence`, "DELETE") }, "Unsilence")
            : h("button", { class: "link", onclick: () => this.act(`/api/v1/alerts/rules/${r.id}/silence`, "POST", { for: "1h" }) }, "Silence 1h"),
          h("button", { class: "link", onclick: () => { if (confirm(`Delete rule "${r.name}" and its events?`)) this.act(`/api/v1/alerts/rules/${r.id}`, "DELETE"); } }, "Delete"))));
      if (!ruleRows.length) ruleRows.push(h("tr", {}, h("td", { colspan: "5", class: "empty" }, "No rules yet: create one above or POST /api/v1/alerts/rules.")));
      setChildren(this.rules, ...ruleRows);
      const eventRows = events.map((e) => h("tr", { class: e.state === "firing" ? "has-error" : "", "data-event-id": e.id },
        h("td", { class: "mono nowrap" }, fmtText(e.fired_at)),
        h("td", {}, h("span", { class: "pill " + (e.state === "firing" ? "status-error" : "status-ok") }, e.state),
          e.silenced ? h("span", { class: "pill" }, "silenced") : null),
        h("td", { title: names[e.rule_id] || `rule ${e.rule_id}` }, e.summary, " ", h("a", { href: e.link }, "view")),
        h("td", { "data-testid": "deliveries" }, e.deliveries.map((d) => h("div", { class: d.status === "failed" ? "error-text" : "muted" },
          `${d.state} → ${d.channel}: ${d.status}` + (d.attempts > 1 ? ` after ${d.attempts} attempts` : "")
            + (d.last_error ? ` (${d.last_error})` : ""))))));
      if (!eventRows.length) eventRows.push(h("tr", {}, h("td", { colspan: "4", class: "empty" }, "Nothing has fired.")));
      setChildren(this.events, ...eventRows);
    } catch (error) {
      setChildren(this.rules, h("tr", {}, h("td", { colspan: "5" }, errorBox(error))));
    }
    if (!document.hidden) this.timer = setTimeout(() => this.load(), POLL_MS);
  }
}
