// The shell: picks the view for the URL's hash and hands it the URL's state. A view may take
// a new state in place (`update` returns true) — the trace view does, so that selecting a
// span never reloads a 100,000-span trace.
import { currentRoute } from "./util.js";
import { TracesView } from "./traces.js";
import { TraceView } from "./trace.js";
import { SQLView } from "./sql.js";
import { LogsView } from "./logs.js";

const views = { traces: TracesView, trace: TraceView, sql: SQLView, logs: LogsView };
const root = document.getElementById("view");
let active = null; // { name, view }

function route() {
  const { view: name, id, params } = currentRoute();
  const View = views[name] || TracesView;
  const viewName = views[name] ? name : "traces";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === viewName || (viewName === "trace" && link.dataset.nav === "traces"));
  }
  if (active && active.name === viewName && active.view.update && active.view.update(id, params)) return;
  if (active) active.view.unmount();
  root.replaceChildren();
  active = { name: viewName, view: new View(root) };
  active.view.mount(id, params);
}

window.addEventListener("hashchange", route);
route();
