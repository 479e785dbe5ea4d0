"""Sessions and users (issue 24): spans sent with session.id and user.id through the real
OpenTelemetry exporter come back as sessions with their turns in order and as users with their
sessions, from the sessions_1h and users_1h jobs; a session's turns show before any job ran."""

from __future__ import annotations

import json
import time

import pytest
import requests
from opentelemetry import trace as api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from harness import STORE_CONFIG, merge_config
from test_jobs_costs import run_job

SEC = 1_000_000_000
HOUR = 3600 * SEC
CONFIG = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "segments": {"max_age_ms": 500}})
# session → (user, [(hours before now, error)] one per turn, oldest first); the turns of
# "alice-1" fall in three different hours, and the last session id holds dashes.
SESSIONS = {
    "alice-1": ("alice", [(3.2, False), (2.1, False), (0.5, True)]),
    "alice-2": ("alice", [(1.5, False)]),
    "b0b5e55e-7c1d-4a0e-9f3e-2b1d0c9a8e7f": ("bob", [(0.9, False), (0.4, False)]),
}
# Sessions whose root spans do not name them: only the LLM call does, as instrumentations that
# set session.id on model calls alone send it. Their turns are still the traces.
ROOT_UNNAMED = {"b0b5e55e-7c1d-4a0e-9f3e-2b1d0c9a8e7f"}


def send_sessions(srv, now: int) -> dict[str, list[str]]:
    """Each turn: a root span and an LLM call under it, both naming the session and the user
    (the LLM call alone for the sessions of ROOT_UNNAMED).
    Returns each session's trace ids in the order of their turns."""
    provider = TracerProvider(resource=Resource.create({"service.name": "assistant"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url)))
    tracer = provider.get_tracer("pyflare.e2e.sessions")
    traces: dict[str, list[str]] = {}
    for number, (session, (user, turns)) in enumerate(SESSIONS.items()):
        for turn, (hours_ago, error) in enumerate(turns):
            start = now - int(hours_ago * HOUR) + number * SEC
            common = {"session.id": session, "user.id": user}
            root = tracer.start_span(f"turn {turn + 1}", attributes={} if session in ROOT_UNNAMED else common,
                                     start_time=start)
            with api.use_span(root, end_on_exit=False):
                call = tracer.start_span("chat gpt-4o-mini", start_time=start + 1_000_000, attributes=dict(
                    common, **{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai",
                               "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 100 * (turn + 1),
                               "gen_ai.usage.output_tokens": 10 * (turn + 1)}))
                if error:
                    call.set_status(Status(StatusCode.ERROR, "the model timed out"))
                call.end(end_time=start + 200_000_000)
            root.end(end_time=start + 250_000_000)
            traces.setdefault(session, []).append(format(root.get_span_context().trace_id, "032x"))
    provider.shutdown()
    return traces


def no_repeated_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"an object repeats a key: {keys}"
    return dict(pairs)


def get(srv, path: str, expect: int = 200, **params) -> dict:
    r = requests.get(f"{srv.api_base}{path}", params=params, timeout=10)
    assert r.status_code == expect, (path, r.status_code, r.text[:400])
    return json.loads(r.text, object_pairs_hook=no_repeated_keys)


@pytest.fixture(scope="module")
def world(module_server_factory):
    srv = module_server_factory(CONFIG, name="sessions")
    now = time.time_ns()
    traces = send_sessions(srv, now)
    return srv, now, traces


def test_a_sessions_turns_show_in_order_before_any_job_ran(world):
    srv, _now, traces = world
    for session, ids in traces.items():
        doc = get(srv, f"/api/v1/sessions/{session}")
        assert [t["trace_id"] for t in doc["traces"]] == ids, doc
        assert doc["user"] == SESSIONS[session][0]
        assert all(t["session"] == session and t["span_count"] == 2 for t in doc["traces"]), doc["traces"]


def test_sessions_and_users_from_their_jobs(world):
    srv, now, traces = world
    run_job(srv, "sessions_1h")
    run_job(srv, "users_1h")

    listed = get(srv, "/api/v1/sessions", since=now - 4 * HOUR)
    assert listed["materialized_at"] is not None
    by_id = {s["session_id"]: s for s in listed["sessions"]}
    assert set(by_id) == set(SESSIONS)
    for session, (user, turns) in SESSIONS.items():
        row = by_id[session]
        costs = [t["cost_micros"] for t in get(srv, f"/api/v1/sessions/{session}")["traces"]]
        assert all(c and c > 0 for c in costs), costs  # gpt-4o-mini is priced
        named = 1 if session in ROOT_UNNAMED else 2  # the spans of a turn that name the session
        assert (row["user"], row["turns"], row["spans"], row["llm_calls"], row["errors"]) == \
            (user, len(turns), named * len(turns), len(turns), sum(e for _, e in turns)), row
        assert row["input_tokens"] == sum(100 * (i + 1) for i in range(len(turns)))
        assert row["output_tokens"] == sum(10 * (i + 1) for i in range(len(turns)))
        assert row["cost_micros"] == sum(costs), (row, costs)
        assert row["first_seen_unix_nano"] < row["last_seen_unix_nano"] or len(turns) == 1
    # most recently seen first
    order = [s["session_id"] for s in listed["sessions"]]
    assert order == sorted(order, key=lambda s: -by_id[s]["last_seen_unix_nano"]), order

    # paging by cursor walks the same list
    first = get(srv, "/api/v1/sessions", since=now - 4 * HOUR, limit=2)
    assert [s["session_id"] for s in first["sessions"]] == order[:2] and first["next_cursor"]
    rest = get(srv, "/api/v1/sessions", since=now - 4 * HOUR, limit=2, cursor=first["next_cursor"])
    assert [s["session_id"] for s in rest["sessions"]] == order[2:] and rest["next_cursor"] is None
    # the range counts whole hours: the last hour alone holds the later turns only
    recent = {s["session_id"]: s for s in get(srv, "/api/v1/sessions", since=now - HOUR // 4)["sessions"]}
    assert set(recent) <= set(SESSIONS) and "alice-2" not in recent, recent

    alice = get(srv, "/api/v1/sessions", since=now - 4 * HOUR, user="alice")["sessions"]
    assert sorted(s["session_id"] for s in alice) == ["alice-1", "alice-2"]

    users = {u["user"]: u for u in get(srv, "/api/v1/users", since=now - 4 * HOUR)["users"]}
    assert set(users) == {"alice", "bob"}
    assert (users["alice"]["requests"], users["alice"]["sessions"], users["alice"]["errors"]) == (4, 2, 1)
    assert (users["bob"]["requests"], users["bob"]["sessions"], users["bob"]["llm_calls"]) == (2, 1, 2)
    assert users["alice"]["cost_micros"] == by_id["alice-1"]["cost_micros"] + by_id["alice-2"]["cost_micros"]
    bob = get(srv, "/api/v1/users/bob")
    assert bob["requests"] == 2 and bob["sessions"] == 1
    assert [s["session_id"] for s in bob["recent_sessions"]] == ["b0b5e55e-7c1d-4a0e-9f3e-2b1d0c9a8e7f"]

    # the session answer after the job: its figures beside its turns
    doc = get(srv, "/api/v1/sessions/alice-1")
    assert doc["turns"] == 3 and [t["trace_id"] for t in doc["traces"]] == traces["alice-1"]
    assert doc["spans"] == 6 and doc["errors"] == 1 and doc["cost_micros"] == by_id["alice-1"]["cost_micros"]


def test_unknown_sessions_users_and_bad_cursors(world):
    srv, _now, _traces = world
    assert get(srv, "/api/v1/sessions/nobody", expect=404)["error"]["code"] == "not_found"
    assert get(srv, "/api/v1/users/nobody", expect=404)["error"]["code"] == "not_found"
    error = get(srv, "/api/v1/sessions", expect=400, cursor="not-a-cursor!")["error"]
    assert "cursor" in error["message"]
    get(srv, "/api/v1/users", expect=400, limit=0)
