"""The trace API: GET /api/v1/traces (summaries, filters, paging) and
GET /api/v1/traces/{id} (errors), against a data set whose expected answers are
computed from what was sent; and one trace whose spans arrive across seals."""

from __future__ import annotations

import datetime
import os
import random
import threading
import time

import pytest
import requests

from harness import PROTOBUF, STORE_CONFIG, merge_config
from otlp_helpers import make_request, make_span, request_to_expected
from store_helpers import StoreDir, assert_stored, wait_until

T0 = 1_767_000_000_000_000_000  # 2025-12-29T09:20:00Z
SEC = 1_000_000_000
MS = 1_000_000
FAST_SEAL = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 200}})


# --------------------------------------------------------------------------
# the data set
# --------------------------------------------------------------------------


class Trace:
    """One trace of the data set and the summary the server should derive from it."""

    def __init__(self, i: int):
        self.i = i
        self.trace_id = os.urandom(15) + bytes([i + 1])  # distinct, never all zero
        self.service = ["svc-a", "svc-b", "svc-c"][i % 3]
        self.child_service = "svc-shared" if i % 4 == 0 else self.service
        self.model = {0: "gpt-4o", 1: "gpt-4o-mini"}.get(i % 5)
        self.user = f"user-{i % 4}" if i % 2 == 0 else None
        self.session = f"sess-{i % 3}"
        self.error = i % 7 == 0
        # traces 10..14 start at the same nanosecond: the cursor must break the tie by id
        self.start = T0 + (10 if 10 <= i <= 14 else i) * SEC
        self.duration = (i % 9 + 1) * 10 * MS
        self.end = self.start + self.duration

    @property
    def hex(self) -> str:
        return self.trace_id.hex()

    def spans(self):
        root_attrs = {"user.id": self.user} if self.user else {}
        root_attrs["session.id"] = self.session
        root = make_span(trace_id=self.trace_id, name=f"root {self.i}", start=self.start,
                         duration=self.duration, attributes=root_attrs)
        child_attrs = {"session.id": self.session}
        if self.user:
            child_attrs["user.id"] = self.user
        if self.model:
            child_attrs.update({"gen_ai.request.model": self.model, "gen_ai.usage.input_tokens": 100 + self.i,
                                "gen_ai.usage.output_tokens": 10 + self.i})
        child = make_span(trace_id=self.trace_id, name=f"child {self.i}", parent=root.span_id,
                          start=self.start + MS, duration=self.duration - 2 * MS, attributes=child_attrs)
        if self.error:
            child.status.code = 2
            child.status.message = "failed"
        return [(self.service, root), (self.child_service, child)]

    @property
    def services(self) -> list[str]:
        return sorted({self.service, self.child_service})


N_TRACES = 40
DATASET = [Trace(i) for i in range(N_TRACES)]


def newest_first(traces) -> list[str]:
    return [t.hex for t in sorted(traces, key=lambda t: (t.start, t.trace_id), reverse=True)]


@pytest.fixture(scope="module")
def api_server(module_server_factory):
    srv = module_server_factory(FAST_SEAL, name="trace-api")
    by_service: dict[str, list] = {}
    for t in DATASET:
        for service, span in t.spans():
            by_service.setdefault(service, []).append(span)
    spans = [(svc, sp) for svc, sps in by_service.items() for sp in sps]
    random.Random(7).shuffle(spans)
    for k in range(0, len(spans), 10):  # 8 requests of ~10 spans of mixed services and traces
        chunk = spans[k:k + 10]
        for svc in {svc for svc, _ in chunk}:
            req = make_request([sp for s, sp in chunk if s == svc], service=svc)
            resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
            assert resp.status_code == 200, resp.status_code
    # a trace is listed after the seal of its first span; wait until every span is sealed
    wait_until(lambda: sum(t["span_count"] for t in srv.list_traces(limit=1000)["traces"]) >= 2 * N_TRACES,
               timeout=20, what=f"{2 * N_TRACES} spans of {N_TRACES} traces sealed and listed",
               describe=lambda: f"{len(srv.list_traces(limit=1000)['traces'])} listed")
    return srv


def ids(summaries) -> list[str]:
    return [t["trace_id"] for t in summaries]


# --------------------------------------------------------------------------
# summaries and paging
# --------------------------------------------------------------------------


def test_list_summaries_match_what_was_sent(api_server):
    page = api_server.list_traces(limit=1000)
    assert page["next_cursor"] is None, page["next_cursor"]
    rows = page["traces"]
    assert ids(rows) == newest_first(DATASET), "not newest first (start time, then trace id, descending)"
    by_id = {r["trace_id"]: r for r in rows}
    problems = []
    for t in DATASET:
        r = by_id[t.hex]
        tokens_in = (100 + t.i) if t.model else 0
        tokens_out = (10 + t.i) if t.model else 0
        want = {
            "root_service": t.service, "root_name": f"root {t.i}", "start_time_unix_nano": t.start,
            "end_time_unix_nano": t.end, "span_count": 2, "error_count": 1 if t.error else 0,
            "input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out,
            "unpriced_count": 0, "services": t.services, "models": [t.model] if t.model else [],
            "user": t.user, "session": t.session,
        }
        got = {k: r.get(k) for k in want}
        if got != want:
            problems.append(f"{t.i} {t.hex}: {got} != {want}")
        if (r["cost_micros"] is None) != (t.model is None) or (t.model and r["cost_micros"] <= 0):
            problems.append(f"{t.i}: cost_micros {r['cost_micros']!r} for model {t.model!r}")
        if r["duration_ms"] != t.duration / MS:
            problems.append(f"{t.i}: duration_ms {r['duration_ms']} != {t.duration / MS}")
        when = datetime.datetime.fromtimestamp(t.start / SEC, datetime.timezone.utc)
        if r["start_time"] != when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z":
            problems.append(f"{t.i}: start_time {r['start_time']!r} for {t.start}")
    assert not problems, "\n".join(problems)
    # cost in the summary = the sum of the spans' own cost
    t = DATASET[0]
    doc = api_server.get_trace(t.hex)
    span_cost = sum(s["pyflare"]["cost_micros"] or 0 for s in doc["spans"])
    assert by_id[t.hex]["cost_micros"] == span_cost == 100 * 2.5 + 10 * 10, (by_id[t.hex], span_cost)


@pytest.mark.parametrize("limit", [1, 3, 7, 40])
def test_paging_returns_each_trace_once_newest_first(api_server, limit):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = api_server.list_traces(**params)
        pages += 1
        assert len(page["traces"]) <= limit
        seen += ids(page["traces"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, page
        assert len(page["traces"]) == limit, "a page before the last one must be full"
        assert pages <= N_TRACES + 1, "paging does not end"
    assert len(seen) == len(set(seen)), f"traces returned twice: {[x for x in set(seen) if seen.count(x) > 1]}"
    assert seen == newest_first(DATASET), "paging lost, repeated or reordered traces"
    assert pages == -(-N_TRACES // limit), f"{pages} pages of at most {limit} for {N_TRACES} traces"


def test_paging_with_a_filter(api_server):
    want = newest_first([t for t in DATASET if "svc-a" in t.services])
    got = ids(api_server.list_all_traces(page_size=2, service="svc-a"))
    assert got == want


# --------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------

FILTERS = [
    ({"service": "svc-a"}, lambda t: "svc-a" in t.services),
    ({"service": "svc-shared"}, lambda t: "svc-shared" in t.services),  # not a root service
    ({"service": "svc"}, lambda t: False),  # no prefix matching
    ({"model": "gpt-4o"}, lambda t: t.model == "gpt-4o"),  # not gpt-4o-mini
    ({"model": "gpt-4o-mini"}, lambda t: t.model == "gpt-4o-mini"),
    ({"user": "user-2"}, lambda t: t.user == "user-2"),
    ({"session": "sess-1"}, lambda t: t.session == "sess-1"),
    ({"status": "error"}, lambda t: t.error),
    ({"status": "ok"}, lambda t: not t.error),
    ({"min_duration_ms": "50"}, lambda t: t.duration >= 50 * MS),
    ({"min_duration_ms": "50.5"}, lambda t: t.duration >= 50.5 * MS),
    ({"min_duration_ms": "0"}, lambda t: True),
    ({"since": str(T0 + 20 * SEC)}, lambda t: t.start >= T0 + 20 * SEC),
    ({"until": str(T0 + 20 * SEC)}, lambda t: t.start < T0 + 20 * SEC),
    ({"since": str(T0 + 10 * SEC), "until": str(T0 + 10 * SEC + 1)}, lambda t: t.start == T0 + 10 * SEC),
    ({"since": "2025-12-29T09:20:30Z"}, lambda t: t.start >= T0 + 30 * SEC),
    ({"since": "2025-12-29T09:20:30.500Z", "until": "2025-12-29T10:20:35+01:00"},
     lambda t: T0 + 30 * SEC + SEC // 2 <= t.start < T0 + 35 * SEC),
    ({"service": "svc-b", "status": "ok", "min_duration_ms": "30"},
     lambda t: "svc-b" in t.services and not t.error and t.duration >= 30 * MS),
    ({"model": "gpt-4o", "user": "user-0"}, lambda t: t.model == "gpt-4o" and t.user == "user-0"),
    ({"service": ""}, lambda t: True),  # an empty parameter is no filter
]


@pytest.mark.parametrize("params,pred", FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_filters(api_server, params, pred):
    want = newest_first([t for t in DATASET if pred(t)])
    got = ids(api_server.list_traces(limit=1000, **params)["traces"])
    missing = [DATASET_BY_HEX[x].i for x in set(want) - set(got)]
    extra = [DATASET_BY_HEX[x].i if x in DATASET_BY_HEX else x for x in set(got) - set(want)]
    assert got == want, f"{params}: missing traces {sorted(missing)}, unexpected {sorted(extra, key=str)}"


DATASET_BY_HEX = {t.hex: t for t in DATASET}


def test_filters_are_selective():
    """Guard against a data set on which the filter tests prove nothing."""
    for params, pred in FILTERS:
        n = sum(1 for t in DATASET if pred(t))
        if params == {"service": "svc"}:
            assert n == 0
        elif params in ({"min_duration_ms": "0"}, {"service": ""}):
            assert n == N_TRACES
        else:
            assert 0 < n < N_TRACES, (params, n)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def _error(resp, status, code):
    assert resp.status_code == status, f"{resp.request.url}: HTTP {resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"} and body["error"].get("code") == code, body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body
    return body["error"]["message"]


@pytest.mark.parametrize("bad_id", [
    "xyz", "0" * 32, "0" * 31 + "g", "a" * 31, "a" * 33, "a" * 64, "%20" + "a" * 29, "-" + "a" * 31,
])
def test_bad_trace_id_is_400(api_server, bad_id):
    _error(api_server.api_get(f"/api/v1/traces/{bad_id}"), 400, "bad_request")


def test_unknown_trace_is_404(api_server):
    unknown = os.urandom(16).hex()
    _error(api_server.api_get(f"/api/v1/traces/{unknown}"), 404, "not_found")


def test_uppercase_trace_id_is_accepted(api_server):
    t = DATASET[3]
    doc = api_server.get_trace(t.hex.upper())
    assert doc["trace_id"] == t.hex and doc["span_count"] == 2


@pytest.mark.parametrize("params,name", [
    ({"status": "bogus"}, "status"),
    ({"status": "ERROR"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"since": "notatime"}, "since"),
    ({"until": "notatime"}, "until"),
    ({"since": "2025-13-45T99:00:00Z"}, "since"),
    ({"min_duration_ms": "-1"}, "min_duration_ms"),
    ({"min_duration_ms": "fast"}, "min_duration_ms"),
    ({"min_duration_ms": "nan"}, "min_duration_ms"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "aGVsbG8"}, "cursor"),  # base64url of "hello"
])
def test_bad_filters_are_400(api_server, params, name):
    message = _error(api_server.api_get("/api/v1/traces", params=params), 400, "bad_request")
    assert name in message, f"the message should name {name!r}: {message!r}"


def test_limit_bounds_are_accepted(api_server):
    assert len(api_server.list_traces(limit=1)["traces"]) == 1
    assert len(api_server.list_traces(limit=1000)["traces"]) == N_TRACES
    assert len(api_server.list_traces()["traces"]) == N_TRACES  # default 50


# --------------------------------------------------------------------------
# one trace across several seals
# --------------------------------------------------------------------------


def _summary(srv, trace_hex):
    rows = [t for t in srv.list_traces(limit=1000)["traces"] if t["trace_id"] == trace_hex]
    return rows[0] if rows else None


def test_trace_split_across_segments_is_merged(start_server):
    srv = start_server(FAST_SEAL, name="split-trace")
    store = StoreDir(srv.data_dir)
    tid = os.urandom(16)
    root_id = os.urandom(8)
    t = T0 + 500 * SEC
    expected = []

    def send(spans, service):
        req = make_request(spans, service=service)
        resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
        assert resp.status_code == 200, resp.status_code
        expected.extend(request_to_expected(req)["spans"])

    def sealed(count):
        store.wait_for_segments(count)
        return wait_until(lambda: (s := _summary(srv, tid.hex())) and s["span_count"] == len(expected) and s,
                          what=f"the summary to count {len(expected)} spans",
                          describe=lambda: f"summary {_summary(srv, tid.hex())}")

    # part 1: children only (no root yet), one LLM call (gpt-4o), one error, no user
    llm1 = make_span(trace_id=tid, parent=root_id, name="chat 1", start=t + 10 * MS, duration=100 * MS,
                     attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
                                 "gen_ai.usage.output_tokens": 50})
    err = make_span(trace_id=tid, parent=root_id, name="tool call", start=t + 200 * MS, duration=5 * MS)
    err.status.code = 2
    other = make_span(trace_id=tid, parent=llm1.span_id, name="http", start=t + 20 * MS, duration=10 * MS)
    send([llm1, err, other], "frontend")
    s1 = sealed(1)
    assert (s1["root_name"], s1["span_count"], s1["error_count"], s1["cost_micros"], s1["models"]) == \
        (None, 3, 1, 750, ["gpt-4o"]), s1

    # part 2, after the seal: the root (another service, with user and session) and a claude call
    root = make_span(trace_id=tid, span_id=root_id, name="POST /agent", start=t, duration=900 * MS,
                     attributes={"user.id": "u-late", "session.id": "s-late"})
    llm2 = make_span(trace_id=tid, parent=root_id, name="chat 2", start=t + 300 * MS, duration=400 * MS,
                     attributes={"gen_ai.request.model": "claude-3-5-sonnet", "gen_ai.usage.input_tokens": 200,
                                 "gen_ai.usage.output_tokens": 100})
    send([root, llm2], "gateway")
    # readable at once: 3 spans from the segment + 2 from the WAL (or a new segment)
    assert_stored(srv, expected, "segment + WAL")
    s2 = sealed(2)

    # part 3: an LLM span of a model without a price, and a span ending last
    custom = make_span(trace_id=tid, parent=root_id, name="chat 3", start=t + 800 * MS, duration=300 * MS,
                       attributes={"gen_ai.request.model": "acme-llm-1", "gen_ai.usage.input_tokens": 7,
                                   "gen_ai.usage.output_tokens": 3})
    send([custom], "frontend")
    s3 = sealed(3)

    want2 = {"root_service": "gateway", "root_name": "POST /agent", "start_time_unix_nano": t,
             "end_time_unix_nano": t + 900 * MS, "span_count": 5, "error_count": 1,
             "input_tokens": 300, "output_tokens": 150, "total_tokens": 450, "cost_micros": 750 + 2100,
             "unpriced_count": 0, "services": ["frontend", "gateway"], "models": ["claude-3-5-sonnet", "gpt-4o"],
             "user": "u-late", "session": "s-late"}
    assert {k: s2.get(k) for k in want2} == want2, s2
    assert s2["duration_ms"] == 900.0, s2
    want3 = dict(want2, end_time_unix_nano=t + 1100 * MS, span_count=6, input_tokens=307, output_tokens=153,
                 total_tokens=460, unpriced_count=1, models=["acme-llm-1", "claude-3-5-sonnet", "gpt-4o"])
    assert {k: s3.get(k) for k in want3} == want3, s3
    assert s3["duration_ms"] == 1100.0, s3

    docs = assert_stored(srv, expected, "three segments")
    spans = docs[tid.hex()]["spans"]
    assert [s["name"] for s in spans] == ["POST /agent", "chat 1", "http", "tool call", "chat 2", "chat 3"]
    assert sum(s["pyflare"]["cost_micros"] or 0 for s in spans) == s3["cost_micros"]

    # one list row, and the same after a restart
    assert [r["trace_id"] for r in srv.list_traces(limit=1000)["traces"]] == [tid.hex()]
    srv.restart()
    assert _summary(srv, tid.hex()) == s3
    assert_stored(srv, expected, "three segments, after a restart")


# --------------------------------------------------------------------------
# edge cases, each on its own small server
# --------------------------------------------------------------------------


def test_rfc3339_since_until_are_exact(start_server):
    """since/until in RFC 3339 must mean the same instant as in unix nanoseconds: a trace
    starting exactly at `since` is in, one starting exactly at `until` is out."""
    srv = start_server(FAST_SEAL, name="rfc3339")
    base = T0 + 30 * SEC  # 2025-12-29T09:20:30Z
    spans = [make_span(name=f"ms{ms}", start=base + ms * MS) for ms in range(1, 12)]
    spans.append(make_span(name="ns", start=base + 123_456_789))
    assert srv.post_traces(make_request(spans).SerializeToString(), PROTOBUF).status_code == 200
    wait_until(lambda: len(srv.list_traces(limit=1000)["traces"]) == len(spans), what="all traces listed")

    def names(**params):
        return {r["root_name"] for r in srv.list_traces(limit=1000, **params)["traces"]}

    problems = []
    for ms in range(1, 12):
        iso = f"2025-12-29T09:20:30.{ms:03d}Z"
        for form, value in (("RFC 3339", iso), ("unix ns", str(base + ms * MS))):
            if f"ms{ms}" not in names(since=value):
                problems.append(f"since={value} ({form}) excludes the trace starting at exactly that instant")
            if f"ms{ms}" in names(until=value):
                problems.append(f"until={value} ({form}) includes the trace starting at exactly that instant")
    # RFC 3339 allows any number of fraction digits: nanoseconds must count
    if "ns" in names(since="2025-12-29T09:20:30.123456790Z"):
        problems.append("since=2025-12-29T09:20:30.123456790Z includes a trace starting at ...30.123456789Z")
    if "ns" not in names(until="2025-12-29T09:20:30.123456790Z"):
        problems.append("until=2025-12-29T09:20:30.123456790Z excludes a trace starting at ...30.123456789Z")
    assert not problems, "\n".join(problems)


def test_names_with_commas_stay_whole(start_server):
    """A service or model name may contain a comma; the summary and the filters must
    treat it as one name."""
    srv = start_server(FAST_SEAL, name="commas")
    a = make_span(name="eu", start=T0)
    b = make_span(name="plain", start=T0 + SEC, attributes={"gen_ai.request.model": "m,1",
                                                              "gen_ai.usage.input_tokens": 1})
    assert srv.post_traces(make_request([a], service="billing,eu").SerializeToString()).status_code == 200
    assert srv.post_traces(make_request([b], service="billing").SerializeToString()).status_code == 200
    wait_until(lambda: len(srv.list_traces()["traces"]) == 2, what="both traces listed")
    rows = {r["root_name"]: r for r in srv.list_traces()["traces"]}
    problems = []
    if rows["eu"]["services"] != ["billing,eu"]:
        problems.append(f"service 'billing,eu' listed as services={rows['eu']['services']}")
    if rows["plain"]["models"] != ["m,1"]:
        problems.append(f"model 'm,1' listed as models={rows['plain']['models']}")

    def names(**params):
        return sorted(r["root_name"] for r in srv.list_traces(**params)["traces"])

    for params, want in [({"service": "billing"}, ["plain"]), ({"service": "eu"}, []),
                         ({"service": "billing,eu"}, ["eu"]), ({"model": "m"}, []), ({"model": "m,1"}, ["plain"])]:
        if names(**params) != want:
            problems.append(f"filter {params} selects {names(**params)}, expected {want}")
    assert not problems, "\n".join(problems)


def test_resent_spans_are_counted_once(start_server):
    """An exporter retries a request whose response it did not get (timeout, dropped
    connection, server killed after the WAL fsync): the same spans arrive twice. The
    trace API shows each span once; the summary must agree with it."""
    srv = start_server(FAST_SEAL, name="resend")
    tid = os.urandom(16)
    root = make_span(trace_id=tid, name="root", start=T0, attributes={"user.id": "u"})
    llm = make_span(trace_id=tid, parent=root.span_id, name="chat", start=T0 + MS,
                    attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
                                "gen_ai.usage.output_tokens": 10})
    body = make_request([root, llm]).SerializeToString()
    assert srv.post_traces(body).status_code == 200
    StoreDir(srv.data_dir).wait_for_segments(1)
    assert srv.post_traces(body).status_code == 200  # the retry, after the first copy was sealed
    StoreDir(srv.data_dir).wait_for_segments(2)
    doc = srv.get_trace(tid.hex())
    assert doc["span_count"] == 2, doc["span_count"]
    srv.restart()  # SIGTERM: whatever the second seal had not committed yet is committed now
    row = srv.list_traces()["traces"][0]
    got = {k: row[k] for k in ("span_count", "input_tokens", "output_tokens", "total_tokens", "cost_micros")}
    want = {"span_count": 2, "input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "cost_micros": 350}
    assert got == want, f"summary {got} disagrees with the trace API ({doc['span_count']} spans): expected {want}"


def test_reads_during_seals_see_every_acknowledged_span(start_server):
    """GET /api/v1/traces/{id} while the trace's spans are being sealed (every ~100 ms):
    every span acknowledged before the GET started must be in its answer, whether it is
    in a segment, in the seal in progress, or in the WAL. Stops at the first miss; a
    correct server runs the whole (short) budget."""
    srv = start_server(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 10}}), name="read-vs-seal")
    tid = os.urandom(16)
    state = {"acked": 0, "error": None}
    lock = threading.Lock()
    stop = threading.Event()

    def writer():
        k = 0
        try:
            while not stop.is_set():
                req = make_request([make_span(trace_id=tid, name=f"w{k}.{j}", start=T0 + k * MS + j) for j in range(5)])
                resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
                assert resp.status_code == 200, resp.status_code
                with lock:
                    state["acked"] += 5
                k += 1
        except Exception as e:  # surfaced below
            state["error"] = e

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    misses = []
    gets = 0
    try:
        wait_until(lambda: len(StoreDir(srv.data_dir).segments()) >= 3, what="a few segments")
        session = requests.Session()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and gets < 300 and not misses:
            with lock:
                before = state["acked"]
            doc = session.get(f"{srv.api_base}/api/v1/traces/{tid.hex()}", timeout=15).json()
            gets += 1
            if doc["span_count"] < before:
                misses.append(f"GET #{gets} returned {doc['span_count']} spans, {before} were acknowledged before it "
                              f"started ({len(StoreDir(srv.data_dir).segments())} segments so far)")
    finally:
        stop.set()
        w.join(timeout=15)
    assert state["error"] is None, state["error"]
    assert not misses, misses[0]
    assert gets >= 5, f"only {gets} GETs: the test did not exercise anything"


def test_trace_api_needs_the_store(server):
    """The shared server runs the file sink: the trace API answers 503, not 404 or 500."""
    for path in ("/api/v1/traces", f"/api/v1/traces/{os.urandom(16).hex()}"):
        _error(server.api_get(path), 503, "unavailable")


def test_the_list_shows_traces_before_they_are_sealed_and_pages_across_both(start_server):
    """A trace is listed as soon as its spans are acknowledged, not when a seal writes its
    summary: the list merges the index's summaries with the unsealed spans', and the cursor
    pages across both without repeating or losing a trace."""
    srv = start_server(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600_000}}), name="live-list")
    base = 1_765_000_000 * SEC
    sealed_ids, live_ids = [], []
    for i in range(5):
        span = make_span(name=f"sealed {i}", start=base + i * SEC)
        assert srv.post_traces(make_request([span], service="live-list").SerializeToString()).status_code == 200
        sealed_ids.append(span.trace_id.hex())
    srv.restart()  # the close seals them: these five are in the index now
    for i in range(5, 10):
        span = make_span(name=f"live {i}", start=base + i * SEC)
        assert srv.post_traces(make_request([span], service="live-list").SerializeToString()).status_code == 200
        live_ids.append(span.trace_id.hex())
    listed = requests.get(f"{srv.api_base}/api/v1/traces", params={"service": "live-list"}, timeout=10).json()["traces"]
    assert [t["trace_id"] for t in listed] == list(reversed(sealed_ids + live_ids))
    seen, cursor = [], None
    while True:
        params = {"service": "live-list", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{srv.api_base}/api/v1/traces", params=params, timeout=10).json()
        seen += [t["trace_id"] for t in page["traces"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(sealed_ids + live_ids))
