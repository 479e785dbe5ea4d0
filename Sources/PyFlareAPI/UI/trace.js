// One trace: a virtualized waterfall over `?view=waterfall` (one small array per span) and
// a panel with the selected span in full (`?span_id=`). The tree is built in one pass over
// typed arrays and only the rows in view are in the DOM, so 100,000 spans open and scroll
// like 100.
import { setChildren, api, h, ExactNumber, exactJSON, fmtCost, fmtDurationNs, fmtInt, fmtTime, navigate, traceLink, errorBox, SPAN_KINDS } from "./util.js";
import { extractConversation, renderConversation } from "./conversation.js";

const ROW_HEIGHT = 24;
const OVERSCAN = 12;

/** Parent links, children lists, depths, self times and the display order, in O(n). */
export function buildTree(spans) {
  const n = spans.length;
  const indexOf = new Map();
  for (let i = 0; i < n; i++) indexOf.set(spans[i][0], i);
  const parent = new Int32Array(n).fill(-1);
  const firstChild = new Int32Array(n).fill(-1);
  const nextSibling = new Int32Array(n).fill(-1);
  const childCount = new Int32Array(n);
  const roots = [];
  for (let i = 0; i < n; i++) {
    const p = spans[i][1] ? indexOf.get(spans[i][1]) : undefined;
    if (p !== undefined && p !== i) { parent[i] = p; childCount[p]++; }
  }
  // Backwards, so each list keeps the spans' start order.
  for (let i = n - 1; i >= 0; i--) {
    const p = parent[i];
    if (p >= 0) { nextSibling[i] = firstChild[p]; firstChild[p] = i; }
  }
  for (let i = 0; i < n; i++) if (parent[i] < 0) roots.push(i);
  const depth = new Uint16Array(n);
  const visited = new Uint8Array(n);
  const preorder = new Int32Array(n);
  let count = 0;
  const stack = [];
  const walk = (start) => {
    stack.push(start);
    while (stack.length) {
      const i = stack.pop();
      if (visited[i]) continue;
      visited[i] = 1;
      preorder[count++] = i;
      const kids = [];
      for (let c = firstChild[i]; c >= 0; c = nextSibling[c]) {
        if (visited[c]) continue; // a parent cycle leads back here: keep the depth it has
        depth[c] = Math.min(depth[i] + 1, 65535);
        kids.push(c);
      }
      for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
    }
  };
  for (const r of roots) walk(r);
  // Spans in a parent cycle (malformed data) are reachable from no root: show them at the top level.
  for (let i = 0; i < n; i++) if (!visited[i]) { depth[i] = 0; roots.push(i); walk(i); }
  // Self time: the span's duration less the union of its children's, clipped to the span.
  const selfTime = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const start = spans[i][4], end = start + spans[i][5];
    let covered = 0, runStart = -1, runEnd = -1;
    for (let c = firstChild[i]; c >= 0; c = nextSibling[c]) {
      const cs = Math.max(spans[c][4], start), ce = Math.min(spans[c][4] + spans[c][5], end);
      if (ce <= cs) continue;
      if (cs > runEnd) { if (runEnd > runStart) covered += runEnd - runStart; runStart = cs; runEnd = ce; }
      else if (ce > runEnd) runEnd = ce;
    }
    if (runEnd > runStart) covered += runEnd - runStart;
    selfTime[i] = Math.max(0, spans[i][5] - covered);
  }
  return { indexOf, parent, firstChild, childCount, depth, preorder: preorder.subarray(0, count), selfTime, roots };
}

export class TraceView {
  constructor(root) {
    this.root = root;
    this.collapsed = new Set();
    this.pool = [];
    this.selected = null;
    this.panelRequest = 0;
  }

  mount(id, params) {
    this.id = id;
    performance.clearMarks("pyflare:trace-open");
    performance.clearMeasures("pyflare:trace-ready");
    performance.mark("pyflare:trace-open");
    this.page = h("div", { class: "trace-page", "data-testid": "trace-page" });
    this.root.append(this.page);
    this.header = h("div", { class: "trace-head" }, h("span", { class: "muted" }, "Loading trace ", h("span", { class: "mono" }, id), "…"));
    this.page.append(this.header);
    this.load(params.get("span"));
  }

  update(id, params) {
    if (id !== this.id || !this.tree) return false;
    this.select(params.get("span"), { scroll: true });
    return true;
  }

  unmount() {
    if (this.onResize) window.removeEventListener("resize", this.onResize);
  }

  async load(spanID) {
    let answer;
    try {
      answer = await api(`/api/v1/traces/${encodeURIComponent(this.id)}?view=waterfall`);
    } catch (error) {
      setChildren(this.header, h("h1", {}, "Trace ", h("span", { class: "mono" }, this.id)), errorBox(error));
      return;
    }
    performance.mark("pyflare:trace-fetched");
    this.data = answer;
    this.spans = answer.spans;
    this.tree = buildTree(this.spans);
    performance.mark("pyflare:trace-built");
    this.traceEnd = this.spans.reduce((max, s) => Math.max(max, s[4] + s[5]), 1);
    this.renderShell();
    this.refreshRows();
    this.select(spanID || (this.tree.roots.length ? this.spans[this.tree.roots[0]][0] : null), { scroll: true, replace: !spanID });
    // Marked when the rows are painted: what the 2 s bound of a 100,000-span trace measures.
    requestAnimationFrame(() => {
      performance.mark("pyflare:trace-painted");
      performance.measure("pyflare:trace-ready", "pyflare:trace-open", "pyflare:trace-painted");
      this.page.dataset.ready = "true";
    });
  }

  renderShell() {
    const spans = this.spans;
    let cost = null, tokens = 0, errors = 0;
    const services = new Set(), models = new Set();
    for (const s of spans) {
      if (s[10] !== null) cost = (cost || 0) + s[10];
      if (s[9] !== null) tokens += s[9];
      if (s[6] === 2) errors++;
      if (s[7]) services.add(s[7]);
      if (s[8]) models.add(s[8]);
    }
    const rootSpan = this.tree.roots.length ? spans[this.tree.roots[0]] : null;
    const stat = (label, value, testid) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", "data-testid": testid }, value));
    setChildren(this.header, 
      h("div", { class: "crumbs" }, h("a", { href: "#/traces" }, "Traces"), " / ",
        h("span", { class: "mono" }, this.id)),
      h("h1", {}, rootSpan ? rootSpan[2] : "(no root span)"),
      h("div", { class: "stats" },
        stat("Spans", fmtInt(spans.length), "trace-span-count"),
        stat("Duration", fmtDurationNs(this.traceEnd), "trace-duration"),
        stat("Start", fmtTime(this.data.start_time_unix_nano)),
        stat("Tokens", tokens ? fmtInt(tokens) : "—", "trace-tokens"),
        stat("Cost", fmtCost(cost), "trace-cost"),
        stat("Errors", fmtInt(errors), "trace-errors"),
        stat("Services", [...services].join(", ") || "—"),
        stat("Models", [...models].join(", ") || "—")),
      this.data.warnings.length ? h("div", { class: "warning-box" }, this.data.warnings.join("; ")) : null);

    this.spacer = h("div", { class: "wf-spacer" });
    this.body = h("div", { class: "wf-body", "data-testid": "waterfall", tabindex: "0", onscroll: () => this.scheduleRender(), onkeydown: (e) => this.key(e) }, this.spacer);
    const axis = h("div", { class: "wf-axis" });
    for (let k = 0; k <= 4; k++) axis.append(h("span", { style: `left:${k * 25}%` }, k ? fmtDurationNs((this.traceEnd * k) / 4) : "0"));
    const waterfall = h("section", { class: "waterfall" },
      h("div", { class: "wf-head" }, h("div", { class: "wf-name" }, "Span"), h("div", { class: "wf-kind" }, "Kind"),
        h("div", { class: "wf-num" }, "Duration"), h("div", { class: "wf-num" }, "Self"), h("div", { class: "wf-timeline" }, axis)),
      this.body);
    this.panel = h("aside", { class: "span-panel", "data-testid": "span-panel" });
    this.page.append(h("div", { class: "trace-split" }, waterfall, this.panel));
    this.onResize = () => this.scheduleRender();
    window.addEventListener("resize", this.onResize);
  }

  /** The visible rows: the preorder without the descendants of collapsed spans. */
  refreshRows() {
    const { preorder, depth } = this.tree;
    if (!this.collapsed.size) {
      this.rows = preorder;
    } else {
      const rows = new Int32Array(preorder.length);
      let count = 0, skipBelow = -1;
      for (let k = 0; k < preorder.length; k++) {
        const i = preorder[k];
        if (skipBelow >= 0) { if (depth[i] > skipBelow) continue; skipBelow = -1; }
        rows[count++] = i;
        if (this.collapsed.has(i)) skipBelow = depth[i];
      }
      this.rows = rows.subarray(0, count);
    }
    this.rowOf = null;
    this.spacer.style.height = this.rows.length * ROW_HEIGHT + "px";
    this.renderRows();
  }

  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.renderRows(); });
  }

  renderRows() {
    const top = this.body.scrollTop, height = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const needed = last - first;
    while (this.pool.length < needed) {
      const row = this.makeRow();
      this.pool.push(row);
      this.body.append(row.el);
    }
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k];
      if (k < needed) this.fillRow(row, this.rows[first + k], first + k);
      else if (!row.el.hidden) row.el.hidden = true;
    }
  }

  makeRow() {
    const toggle = h("span", { class: "toggle" });
    const name = h("span", { class: "label" });
    const service = h("span", { class: "svc" });
    const nameCell = h("div", { class: "wf-name" }, toggle, name, service);
    const kind = h("div", { class: "wf-kind" });
    const duration = h("div", { class: "wf-num" });
    const self = h("div", { class: "wf-num muted" });
    const bar = h("div", { class: "bar" });
    const timeline = h("div", { class: "wf-timeline" }, bar);
    const el = h("div", { class: "wf-row" }, nameCell, kind, duration, self, timeline);
    const row = { el, toggle, name, service, nameCell, kind, duration, self, bar, index: -1 };
    el.addEventListener("click", (event) => {
      if (event.target === toggle) { this.toggle(row.index); return; }
      navigate("trace", this.id, { span: this.spans[row.index][0] });
    });
    return row;
  }

  fillRow(row, i, position) {
    const s = this.spans[i];
    row.el.hidden = false;
    row.el.style.transform = `translateY(${position * ROW_HEIGHT}px)`;
    row.el.classList.toggle("selected", this.selected === i);
    if (row.index === i) return;
    row.index = i;
    row.el.dataset.spanId = s[0];
    row.el.classList.toggle("error", s[6] === 2);
    row.nameCell.style.paddingLeft = 6 + this.tree.depth[i] * 14 + "px";
    row.toggle.textContent = this.tree.childCount[i] ? (this.collapsed.has(i) ? "▸" : "▾") : "";
    row.toggle.title = this.tree.childCount[i] ? `${this.tree.childCount[i]} children` : "";
    row.name.textContent = s[2];
    row.service.textContent = s[8] ? s[8] : "";
    row.kind.textContent = SPAN_KINDS[s[3]] || s[3];
    row.duration.textContent = fmtDurationNs(s[5]);
    row.self.textContent = fmtDurationNs(this.tree.selfTime[i]);
    const left = (s[4] / this.traceEnd) * 100, width = Math.max((s[5] / this.traceEnd) * 100, 0.15);
    row.bar.style.left = left + "%";
    row.bar.style.width = Math.min(width, 100 - left) + "%";
    row.bar.className = "bar kind-" + (SPAN_KINDS[s[3]] || "other") + (s[6] === 2 ? " error" : "") + (s[10] !== null || s[8] ? " ai" : "");
  }

  toggle(i) {
    if (this.collapsed.has(i)) this.collapsed.delete(i); else this.collapsed.add(i);
    for (const row of this.pool) row.index = -1;
    this.refreshRows();
  }

  key(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const position = this.positionOf(this.selected);
    const next = this.rows[Math.max(0, Math.min(this.rows.length - 1, position + (event.key === "ArrowDown" ? 1 : -1)))];
    if (next !== undefined) navigate("trace", this.id, { span: this.spans[next][0] }, { replace: true });
  }

  positionOf(i) {
    if (i === null || i === undefined) return -1;
    for (let k = 0; k < this.rows.length; k++) if (this.rows[k] === i) return k;
    return -1;
  }

  select(spanID, { scroll = false, replace = false } = {}) {
    const i = spanID ? this.tree.indexOf.get(spanID) : undefined;
    if (i === undefined) { this.selected = null; setChildren(this.panel, h("div", { class: "empty" }, spanID ? `No span ${spanID} in this trace.` : "Select a span.")); this.renderRows(); return; }
    // A collapsed ancestor would hide the selection: open the way to it.
    let opened = false;
    for (let p = this.tree.parent[i]; p >= 0; p = this.tree.parent[p]) if (this.collapsed.delete(p)) opened = true;
    if (opened) { for (const row of this.pool) row.index = -1; this.refreshRows(); }
    this.selected = i;
    if (replace && !new URLSearchParams(location.hash.split("?")[1] || "").get("span")) {
      history.replaceState(null, "", traceLink(this.id, spanID));
    }
    if (scroll) {
      const position = this.positionOf(i);
      const top = position * ROW_HEIGHT, view = this.body.clientHeight || 600;
      if (top < this.body.scrollTop || top + ROW_HEIGHT > this.body.scrollTop + view) this.body.scrollTop = Math.max(0, top - view / 3);
    }
    this.renderRows();
    this.loadPanel(spanID);
  }

  async loadPanel(spanID) {
    const request = ++this.panelRequest;
    this.panel.classList.add("loading");
    if (!this.panel.firstChild) setChildren(this.panel, h("div", { class: "empty" }, "Loading span…"));
    try {
      // The span's evaluations (judges, RAG metrics, annotations) come from their own table; a
      // failure there leaves the span shown, with the error in its section.
      const [answer, evaluations] = await Promise.all([
        api(`/api/v1/traces/${encodeURIComponent(this.id)}?span_id=${encodeURIComponent(spanID)}`, { exact: true }),
        api(`/api/v1/evaluations?span_id=${encodeURIComponent(spanID)}&since=0&limit=100`).catch((error) => ({ error })),
      ]);
      if (request !== this.panelRequest) return;
      const span = answer.spans[0];
      setChildren(this.panel, ...renderSpan(span, this.tree.selfTime[this.selected], answer.logs.filter((l) => l.span_id === spanID), this.id, evaluations));
    } catch (error) {
      if (request === this.panelRequest) setChildren(this.panel, errorBox(error));
    } finally {
      if (request === this.panelRequest) this.panel.classList.remove("loading");
    }
  }
}

// ---- the span panel ----

/** The attribute's type as OTLP sent it, read back from its JSON form. */
function typeOf(value) {
  if (value === null) return "null";
  if (value instanceof ExactNumber) return value.type;
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "bytes" in value && Object.keys(value).length === 1 ? "bytes" : "kvlist";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "double";
  if (typeof value === "boolean") return "bool";
  return "string";
}

function valueText(value) {
  if (typeof value === "string") return value;
  const compact = exactJSON(value);
  return typeof value === "object" && value !== null && !(value instanceof ExactNumber) && compact.length > 60 ? exactJSON(value, 2) : compact;
}

function attributeTable(attributes, testid) {
  const keys = Object.keys(attributes || {});
  if (!keys.length) return h("div", { class: "muted small" }, "none");
  return h("table", { class: "kv", "data-testid": testid }, h("tbody", {}, keys.map((key) => h("tr", {},
    h("th", { class: "mono" }, key),
    h("td", { class: "type" }, typeOf(attributes[key])),
    h("td", { class: "value" }, valueText(attributes[key]))))));
}

/** `later - earlier` of two unix-nanosecond times, exact (they are past 2^53, ExactNumbers here). */
function nanosBetween(later, earlier) {
  try { return Number(BigInt(String(later)) - BigInt(String(earlier))); } catch { return later - earlier; }
}

function section(title, ...content) {
  return h("section", { class: "panel-section" }, h("h3", {}, title), ...content);
}

/** The evaluations of one span, newest first: what judged it, the score or label, and why. */
function evaluationSection(answer) {
  if (answer.error) return section("Evaluations", errorBox(answer.error));
  const rows = answer.evaluations || [];
  if (!rows.length) return null;
  return section(`Evaluations (${rows.length}${answer.next_cursor ? "+" : ""})`,
    h("div", { "data-testid": "span-evaluations" }, rows.map((e) => h("div", { class: "evaluation" },
      h("div", { class: "event-head" },
        h("b", { class: "mono" }, e.name), " ",
        e.passed === null ? null : h("span", { class: "pill " + (e.passed ? "status-ok" : "status-error") }, e.passed ? "passed" : "failed"), " ",
        e.score === null ? null : h("span", {}, "score ", h("b", {}, String(e.score))), " ",
        e.label ? h("span", { class: "tag" }, e.label) : null,
        h("span", { class: "muted" }, " · " + [e.source, e.evaluator].filter(Boolean).join(" · ") + " · " + fmtTime(e.time_unix_nano))),
      e.explanation ? h("div", { class: "explanation" }, e.explanation) : null))));
}

function renderSpan(span, selfTime, logs, traceID, evaluations = { evaluations: [] }) {
  const ai = span.pyflare || {};
  const status = ["unset", "ok", "error"][span.status.code] || span.status.code;
  const out = [];
  out.push(h("div", { class: "panel-title" },
    h("h2", { "data-testid": "span-name" }, span.name),
    h("span", { class: "pill status-" + status }, status), h("span", { class: "pill" }, SPAN_KINDS[span.kind] || span.kind)));
  if (span.status.message) out.push(h("div", { class: "error-box" }, span.status.message));
  const facts = [
    ["Span ID", h("span", { class: "mono" }, span.span_id)],
    ["Parent", span.parent_span_id ? h("a", { class: "mono", href: traceLink(traceID, span.parent_span_id) }, span.parent_span_id) : "—"],
    ["Service", ai.service || "—"],
    ["Start", fmtTime(span.start_time_unix_nano)],
    ["Duration", fmtDurationNs(span.duration_ns)],
    ["Self time", fmtDurationNs(selfTime)],
    ["Scope", [span.scope.name, span.scope.version].filter(Boolean).join(" ") || "—"],
  ];
  out.push(h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));

  const usage = [["Input", ai.input_tokens], ["Output", ai.output_tokens], ["Cached (read)", ai.cache_read_tokens],
    ["Cache write", ai.cache_write_tokens], ["Reasoning", ai.reasoning_tokens], ["Total", ai.total_tokens]];
  if (ai.model || ai.cost_micros !== null || usage.some(([, v]) => v !== null)) {
    out.push(section("Tokens and cost",
      h("div", { class: "usage", "data-testid": "usage" },
        usage.map(([label, v]) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value" }, fmtInt(v)))),
        h("div", { class: "stat" }, h("span", { class: "label" }, "Cost"), h("span", { class: "value", "data-testid": "span-cost" }, fmtCost(ai.cost_micros)))),
      h("dl", { class: "facts" },
        [["Model", ai.model], ["Response model", ai.response_model], ["Provider", ai.provider], ["Operation", ai.operation],
          ["Priced as", ai.price_model], ["Cost source", ai.cost_source]]
          .filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, v)]))));
  }

  const judged = evaluationSection(evaluations);
  if (judged) out.push(judged);

  const conversation = extractConversation(span.attributes || {});
  if (conversation) {
    const { toggle, body } = renderConversation(conversation);
    out.push(h("section", { class: "panel-section" }, h("h3", {}, "Conversation ", toggle), body));
  }
  out.push(section(`Attributes (${Object.keys(span.attributes).length})`, attributeTable(span.attributes, "span-attributes")));

  if (span.events.length) {
    out.push(section(`Events (${span.events.length})`, span.events.map((event) => {
      const a = event.attributes || {};
      const offset = fmtDurationNs(nanosBetween(event.time_unix_nano, span.start_time_unix_nano));
      if (event.name === "exception") {
        const rest = Object.fromEntries(Object.entries(a).filter(([k]) => !["exception.type", "exception.message", "exception.stacktrace"].includes(k)));
        return h("div", { class: "event exception", "data-testid": "exception" },
          h("div", { class: "event-head" }, h("b", {}, a["exception.type"] || "exception"), " ", a["exception.message"] || "", h("span", { class: "muted" }, " +" + offset)),
          a["exception.stacktrace"] ? h("pre", { class: "code stack" }, a["exception.stacktrace"]) : null,
          Object.keys(rest).length ? attributeTable(rest) : null);
      }
      return h("div", { class: "event" }, h("div", { class: "event-head" }, h("b", {}, event.name), h("span", { class: "muted" }, " +" + offset)),
        Object.keys(a).length ? attributeTable(a) : null);
    })));
  }
  if (span.links.length) {
    out.push(section(`Links (${span.links.length})`, span.links.map((link) => h("div", { class: "event" },
      h("a", { class: "mono", href: traceLink(link.trace_id, link.span_id) }, `${link.trace_id} / ${link.span_id}`),
      Object.keys(link.attributes || {}).length ? attributeTable(link.attributes) : null))));
  }
  if (logs.length) {
    out.push(section(`Logs (${logs.length})`, h("table", { class: "grid compact", "data-testid": "span-logs" }, h("tbody", {}, logs.map((l) => h("tr", {},
      h("td", { class: "mono nowrap" }, fmtTime(l.time_unix_nano)),
      h("td", {}, h("span", { class: "sev sev-" + severityClass(l.severity_number) }, l.severity_text || l.severity_number)),
      h("td", { class: "value" }, typeof l.body === "string" ? l.body : JSON.stringify(l.body))))))));
  }
  out.push(section("Resource", attributeTable(span.resource.attributes, "resource-attributes")));
  const raw = h("pre", { class: "code raw", hidden: true }, exactJSON(span, 2));
  out.push(h("section", { class: "panel-section" }, h("button", { class: "link", onclick: () => { raw.hidden = !raw.hidden; } }, "Raw span JSON"), raw));
  return out;
}

export function severityClass(number) {
  if (number >= 17) return "error";
  if (number >= 13) return "warn";
  if (number >= 9) return "info";
  return "debug";
}
