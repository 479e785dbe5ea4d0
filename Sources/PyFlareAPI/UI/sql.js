// The SQL console over POST /api/v1/sql: the schema beside the editor, results paged in the
// page (the statement runs once), scan statistics, errors shown at their position, and
// CSV/JSON downloads of the whole result. The statement is in the URL, so a query is a link.
import { setChildren, api, h, fmtInt, navigate, download, errorBox } from "./util.js";

const PAGE_ROWS = 100;
// The store's virtual tables are eponymous, so pragma_table_list leaves them out: named here.
const SCHEMA_SQL = `WITH tables(name, kind, rank) AS (
  VALUES ('spans', 'virtual', 0), ('logs', 'virtual', 1), ('metric_points', 'virtual', 2)
  UNION ALL
  SELECT name, type, 3 FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'
)
SELECT t.name, t.kind, c.name, c.type FROM tables AS t, pragma_table_info(t.name) AS c
ORDER BY t.rank, t.name, c.cid`;
const DEFAULT_SQL = "SELECT service, model, count(*) AS spans, sum(cost_micros) AS cost_micros\nFROM spans\nGROUP BY service, model\nORDER BY spans DESC";

/** The result page of the URL (`page`, 1-based there), 0-based. */
const pageOf = (params) => Math.max(0, (parseInt(params.get("page") || "1", 10) || 1) - 1);

export function toCSV(columns, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    const text = typeof v === "string" ? v : String(v);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  };
  return [columns, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

export class SQLView {
  constructor(root) { this.root = root; }

  mount(_id, params) {
    this.editor = h("textarea", { class: "sql-editor mono", spellcheck: "false", "data-testid": "sql-editor", "aria-label": "SQL",
      onkeydown: (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); this.submit(); } } });
    this.editor.value = params.get("q") || DEFAULT_SQL;
    this.result = h("div", { class: "sql-result", "data-testid": "sql-result" });
    this.schema = h("div", { class: "schema", "data-testid": "sql-schema" }, h("div", { class: "muted small" }, "Loading tables…"));
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "SQL"), h("span", { class: "muted" }, "read-only SQLite over spans, logs, metric points and the index tables")),
      h("div", { class: "sql-layout" },
        h("aside", { class: "schema-pane" }, h("h3", {}, "Tables"), this.schema),
        h("div", { class: "sql-main" },
          this.editor,
          h("div", { class: "toolbar" },
            h("button", { class: "primary", "data-testid": "sql-run", onclick: () => this.submit() }, "Run"),
            h("span", { class: "muted small" }, "Ctrl+Enter"),
            h("span", { class: "spacer" }),
            this.downloads = h("span", { class: "downloads" })),
          this.result)));
    this.loadSchema();
    if (params.get("q")) this.run(params.get("q"), pageOf(params));
  }

  update(_id, params) {
    const q = params.get("q");
    if (q && q !== this.ranSQL) { this.editor.value = q; this.run(q, pageOf(params)); }
    else if (this.answer) { this.page = pageOf(params); this.renderResult(); }
    return true;
  }

  unmount() {}

  submit() {
    const sql = this.editor.value;
    if (sql === new URLSearchParams(location.hash.split("?")[1] || "").get("q")) this.run(sql);
    else navigate("sql", null, { q: sql });
  }

  async loadSchema() {
    try {
      const answer = await api("/api/v1/sql", { body: { sql: SCHEMA_SQL } });
      const tables = new Map();
      for (const [table, type, column, columnType] of answer.rows) {
        if (!tables.has(table)) tables.set(table, { type, columns: [] });
        tables.get(table).columns.push([column, columnType]);
      }
      setChildren(this.schema, ...[...tables].map(([name, t]) => h("details", { class: "table-entry", open: ["spans", "logs", "traces"].includes(name) || undefined },
        h("summary", {}, h("span", { class: "mono" }, name), t.type !== "table" ? h("span", { class: "muted small" }, " " + t.type) : null),
        h("ul", {}, t.columns.map(([c, ct]) => h("li", { title: "click to insert", onclick: () => this.insert(c) },
          h("span", { class: "mono" }, c), h("span", { class: "muted small" }, ct || "")))))));
    } catch (error) {
      setChildren(this.schema, errorBox(error));
    }
  }

  insert(text) {
    const { selectionStart: a, selectionEnd: b, value } = this.editor;
    this.editor.value = value.slice(0, a) + text + value.slice(b);
    this.editor.focus();
    this.editor.selectionStart = this.editor.selectionEnd = a + text.length;
  }

  async run(sql, page = 0) {
    this.ranSQL = sql;
    setChildren(this.result, h("div", { class: "muted" }, "Running…"));
    setChildren(this.downloads, );
    try {
      const answer = await api("/api/v1/sql", { body: { sql } });
      this.answer = answer;
      this.page = page;
      this.renderResult();
      this.downloads.append(
        h("button", { "data-testid": "download-csv", onclick: () => download("pyflare-query.csv", "text/csv", toCSV(answer.columns, answer.rows)) }, "CSV"),
        h("button", { "data-testid": "download-json", onclick: () => download("pyflare-query.json", "application/json",
          JSON.stringify(answer.rows.map((r) => Object.fromEntries(answer.columns.map((c, i) => [c, r[i]]))), null, 2)) }, "JSON"));
    } catch (error) {
      const parts = [errorBox(error)];
      if (typeof error.position === "number") parts.push(this.pointAt(sql, error.position));
      setChildren(this.result, ...parts);
    }
  }

  /** The line of the statement the error's byte offset falls on, with a caret under it. */
  pointAt(sql, bytePosition) {
    const bytes = new TextEncoder().encode(sql);
    const position = new TextDecoder().decode(bytes.slice(0, bytePosition)).length;
    const lineStart = sql.lastIndexOf("\n", position - 1) + 1;
    const lineEnd = sql.indexOf("\n", position) === -1 ? sql.length : sql.indexOf("\n", position);
    const lineNumber = sql.slice(0, lineStart).split("\n").length;
    this.editor.focus();
    this.editor.setSelectionRange(position, Math.min(position + 1, sql.length));
    return h("pre", { class: "code caret", "data-testid": "sql-error-position" },
      `line ${lineNumber}: ${sql.slice(lineStart, lineEnd)}\n${" ".repeat(`line ${lineNumber}: `.length + position - lineStart)}^`);
  }

  renderResult() {
    const { columns, rows, scan } = this.answer;
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    this.page = Math.min(this.page, pages - 1);
    // Pages are history entries (Back returns to the last one); the statement does not run again.
    const toPage = (page) => navigate("sql", null, { q: this.ranSQL, page: page > 0 ? page + 1 : null });
    const slice = rows.slice(this.page * PAGE_ROWS, (this.page + 1) * PAGE_ROWS);
    const stats = h("div", { class: "scan-stats", "data-testid": "sql-stats" },
      h("span", {}, h("b", {}, fmtInt(this.answer.row_count)), " rows", this.answer.truncated ? " (truncated)" : ""),
      h("span", {}, h("b", {}, this.answer.elapsed_ms.toFixed(1)), " ms"),
      scan ? [["segments", scan.segments], ["blocks read", scan.blocks_read], ["blocks skipped", scan.blocks_skipped],
        ["unsealed batches", scan.unsealed_batches], ["rows scanned", scan.rows_scanned], ["blocks fenced", scan.blocks_fenced]]
        .map(([label, v]) => h("span", {}, h("b", {}, fmtInt(v)), " " + label)) : null);
    const table = h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "sql-table" },
      h("thead", {}, h("tr", {}, h("th", { class: "num muted index" }, "#"), columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, slice.map((row, k) => h("tr", {}, h("td", { class: "num muted index" }, this.page * PAGE_ROWS + k + 1),
        row.map((v) => h("td", { class: typeof v === "number" ? "num" : v === null ? "null" : "" }, v === null ? "NULL" : String(v))))))));
    const pager = pages > 1 ? h("div", { class: "pager" },
      h("button", { disabled: this.page === 0, onclick: () => toPage(this.page - 1) }, "← Previous"),
      h("span", { class: "muted" }, `page ${this.page + 1} of ${pages}`),
      h("button", { disabled: this.page >= pages - 1, onclick: () => toPage(this.page + 1) }, "Next →")) : null;
    const warnings = this.answer.warnings?.length ? h("div", { class: "warning-box" }, this.answer.warnings.join("; ")) : null;
    setChildren(this.result, stats, warnings, table, pager);
  }
}
