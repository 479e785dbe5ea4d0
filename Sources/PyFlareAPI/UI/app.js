// The shell: picks the view for the URL's hash and hands it the URL's state. A view may take
// a new state in place (`update` returns true) — the trace view does, so that selecting a
// span never reloads a 100,000-span trace.
import { api, currentRoute, h, session, setChildren } from "./util.js";
import { TracesView } from "./traces.js";
import { TraceView } from "./trace.js";
import { SQLView } from "./sql.js";
import { LogsView } from "./logs.js";
import { SessionsView, SessionView, UsersView, UserView } from "./sessions.js";
import { AlertsView } from "./alerts.js";
import { OverviewView } from "./overview.js";
import { CostsView } from "./costs.js";
import { RootCauseView } from "./rootcause.js";
import { QualityView } from "./quality.js";
import { OperationsView } from "./operations.js";

const views = { traces: TracesView, trace: TraceView, sessions: SessionsView, session: SessionView, users: UsersView, user: UserView,
  sql: SQLView, logs: LogsView, alerts: AlertsView, overview: OverviewView, costs: CostsView, rca: RootCauseView, quality: QualityView,
  operations: OperationsView };
/** The nav link a view lights: a trace is one of the traces, a session one of the sessions. */
const NAV = { trace: "traces", session: "sessions", user: "users" };
const root = document.getElementById("view");
let active = null; // { name, view }

function route() {
  const { view: name, id, params } = currentRoute();
  const View = views[name] || TracesView;
  const viewName = views[name] ? name : "traces";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === (NAV[viewName] || viewName));
  }
  if (active && active.name === viewName && active.view.update && active.view.update(id, params)) return;
  if (active) active.view.unmount();
  root.replaceChildren();
  active = { name: viewName, view: new View(root) };
  active.view.mount(id, params);
}

/**
 * The project picker: shown when the key may see several projects (an admin key of all of
 * them, or a server without keys); a key of one project answers 403 and the picker stays hidden.
 */
async function showProjects() {
  const slot = document.getElementById("project-slot");
  const signOut = document.getElementById("sign-out");
  signOut.hidden = !session.key;
  try {
    const { projects } = await api("/api/v1/projects");
    if (projects.length < 2 && !session.project) { setChildren(slot); return; }
    const select = h("select", { id: "project", "aria-label": "Project", title: "Project" },
      projects.map((p) => h("option", { value: p.name, selected: (session.project || "default") === p.name }, p.name)));
    select.addEventListener("change", () => {
      session.setProject(select.value === "default" ? "" : select.value);
      if (active) active.view.unmount();
      active = null;
      route();
    });
    setChildren(slot, select);
  } catch {
    setChildren(slot);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  location.reload();
});
document.addEventListener("pyflare:signed-in", showProjects);
window.addEventListener("hashchange", route);
route();
showProjects();
