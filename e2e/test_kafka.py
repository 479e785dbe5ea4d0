"""The Kafka tier end to end: a stateless exporter node (`sink.kind: kafka`) produces what it
accepts to a real Kafka-protocol broker (Tansu, its topics in SeaweedFS's S3), and a storage
node (`receivers.kafka`) consumes them into its store.

* spans, logs and metrics from the real OpenTelemetry exporters arrive at the storage node;
* the broker stopped and restarted mid-stream: every span the exporter node answered 200 for
  is stored; while the broker is away the exporter answers 503, never 200;
* the storage node killed with `kill -9` mid-stream resumes after what it had stored: every
  span exactly once (its WAL records keep the offsets they were read from);
* two storage nodes in one group split the partitions.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness import PROTOBUF, STORE_CONFIG, merge_config
from kafka_helpers import Tansu, librdkafka_dir
from s3_helpers import SeaweedFS
from otlp_helpers import make_request, make_span
from store_helpers import wait_until

TOPICS = ["pyflare-spans", "pyflare-logs", "pyflare-metrics"]
T0 = 1_768_000_000_000_000_000


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    s3 = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), buckets=["tansu"]).start()
    yield s3
    s3.stop()


@pytest.fixture
def broker(seaweedfs, tmp_path):
    # A topic name of its own per test: one broker storage serves the module.
    tansu = Tansu(tmp_path / "tansu", seaweedfs, "tansu").start()
    yield tansu
    tansu.stop()


@pytest.fixture
def kafka_env(tmp_path):
    return {"LD_LIBRARY_PATH": str(librdkafka_dir(tmp_path))}


def topic_names(tag: str) -> dict:
    return {"spans": f"{tag}-spans", "logs": f"{tag}-logs", "metrics": f"{tag}-metrics"}


def exporter_config(broker: Tansu, topics: dict, **kafka) -> dict:
    return {"sink": {"kind": "kafka"},
            "exporters": {"kafka": {"brokers": broker.bootstrap, "topics": topics, "linger_ms": 2, **kafka}}}


def storage_config(broker: Tansu, topics: dict, group: str, **kafka) -> dict:
    # A killed member holds its partitions until its session times out (librdkafka's default 45 s).
    fast_session = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
    return merge_config(STORE_CONFIG, {"receivers": {"kafka": {"brokers": broker.bootstrap, "topics": topics,
                                                                 "group_id": group, "librdkafka": fast_session, **kafka}}})


def sql(srv, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def span_keys(srv, service: str) -> list[tuple[str, str]]:
    return [tuple(row) for row in sql(srv, f"SELECT trace_id, span_id FROM spans WHERE service = '{service}'")]


def test_spans_logs_and_metrics_from_the_real_exporters_reach_the_storage_node(broker, kafka_env, start_server):
    tag = f"otel-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    exporter = start_server(exporter_config(broker, topics), name="exporter", env=kafka_env)
    storage = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage", env=kafka_env)
    service = f"svc-{tag}"
    resource = Resource.create({"service.name": service})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=exporter.traces_url)))
    tracer = tracer_provider.get_tracer("e2e.kafka")
    sent = []
    for i in range(20):
        with tracer.start_as_current_span(f"llm call {i}", attributes={"gen_ai.request.model": "gpt-4o",
                                                                      "gen_ai.usage.input_tokens": 10 + i}) as span:
            with tracer.start_as_current_span(f"tool {i}") as child:
                sent.append(child.get_span_context())
            sent.append(span.get_span_context())
    tracer_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{exporter.otlp_base}/v1/logs")))
    logger = logging.getLogger(f"e2e.kafka.{tag}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger.addHandler(handler)
    for i in range(7):
        logger.warning("kafka log %d", i)
    logger.removeHandler(handler)
    logger_provider.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{exporter.otlp_base}/v1/metrics"),
                                           export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter_provider.get_meter("e2e.kafka").create_counter(f"{tag}.requests").add(3, {"model": "gpt-4o"})
    meter_provider.shutdown()

    expected = {(format(c.trace_id, "032x"), format(c.span_id, "016x")) for c in sent}
    wait_until(lambda: len(span_keys(storage, service)) >= len(expected), timeout=60, what="spans at the storage node",
               describe=lambda: f"{len(span_keys(storage, service))} of {len(expected)}")
    assert sorted(span_keys(storage, service)) == sorted(expected)
    tokens = sql(storage, f"SELECT sum(input_tokens) FROM spans WHERE service = '{service}' AND model = 'gpt-4o'")
    assert tokens == [[sum(10 + i for i in range(20))]]
    wait_until(lambda: sql(storage, f"SELECT count(*) FROM logs WHERE service = '{service}'") == [[7]], timeout=30,
               what="7 log records at the storage node")
    bodies = sorted(row[0] for row in sql(storage, f"SELECT body FROM logs WHERE service = '{service}'"))
    assert bodies == sorted(f"kafka log {i}" for i in range(7))
    wait_until(lambda: sql(storage, f"SELECT sum(value) FROM metric_points WHERE metric_name = '{tag}.requests'") == [[3.0]],
               timeout=30, what="the counter's point at the storage node")

    # One message per request here (each of the 40 span requests holds one trace), 7 of logs, 1 of metrics.
    exported = exporter.metrics()
    assert exported.total("pyflare_kafka_messages_produced_total") == 40 + 7 + 1
    assert exported.total("pyflare_kafka_messages_failed_total") == 0
    # The exporter node keeps nothing: its store APIs say it has none.
    assert requests.get(f"{exporter.api_base}/api/v1/traces", timeout=10).status_code == 503


def test_otlp_json_is_refused_by_an_exporter_node(broker, kafka_env, start_server):
    tag = f"json-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    exporter = start_server(exporter_config(broker, topics), name="exporter", env=kafka_env)
    r = requests.post(exporter.traces_url, data=b'{"resourceSpans":[]}', headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400
    assert "protobuf" in r.text


class Sender(threading.Thread):
    """Posts requests of 5 spans with known ids until stopped; remembers which were answered 200."""

    def __init__(self, url: str, service: str, stop: threading.Event, pause: float = 0.0):
        super().__init__(daemon=True)
        self.url, self.service, self.stop, self.pause = url, service, stop, pause
        self.acked: set[tuple[str, str]] = set()
        self.statuses: dict[int, int] = {}
        self.sent = 0

    def run(self):
        k = 0
        while not self.stop.is_set():
            trace_id = os.urandom(16)
            spans = [make_span(trace_id=trace_id, name=f"req {k} span {j}", start=T0 + k * 1_000_000 + j,
                               duration=500, attributes={"seq": k, "pad": "p" * 300}) for j in range(5)]
            req = make_request(spans, service=self.service)
            try:
                r = requests.post(self.url, data=req.SerializeToString(), headers={"Content-Type": PROTOBUF}, timeout=30)
                status = r.status_code
            except requests.RequestException:
                status = 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.acked |= {(s.trace_id.hex(), s.span_id.hex()) for s in spans}
            k += 1
            self.sent = k
            if self.pause:
                time.sleep(self.pause)


def test_a_broker_restart_mid_stream_loses_no_acknowledged_span(broker, kafka_env, start_server):
    tag = f"restart-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    exporter = start_server(exporter_config(broker, topics, delivery_timeout_ms=3000), name="exporter", env=kafka_env)
    storage = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage", env=kafka_env)
    service = f"svc-{tag}"
    stop = threading.Event()
    sender = Sender(exporter.traces_url, service, stop, pause=0.01)
    sender.start()
    wait_until(lambda: len(sender.acked) >= 500, timeout=60, what="500 spans acknowledged before the restart")
    broker.stop()
    acked_before_down = len(sender.acked)
    time.sleep(5)  # past the delivery timeout: requests now fail instead of being acknowledged
    broker.start()
    wait_until(lambda: len(sender.acked) >= acked_before_down + 500, timeout=90, what="500 more spans acknowledged after the restart",
               describe=lambda: f"statuses {sender.statuses}")
    stop.set()
    sender.join(timeout=60)
    assert sender.statuses.get(503, 0) > 0, f"the exporter answered no 503 while the broker was down: {sender.statuses}"
    wait_until(lambda: sender.acked <= set(span_keys(storage, service)), timeout=90, what="every acknowledged span stored",
               describe=lambda: f"{len(sender.acked - set(span_keys(storage, service)))} of {len(sender.acked)} missing")
    stored = span_keys(storage, service)
    assert len(stored) == len(set(stored)), "a span is stored twice"


def test_a_storage_node_killed_mid_stream_resumes_without_loss_or_duplicates(broker, kafka_env, start_server):
    tag = f"kill-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    exporter = start_server(exporter_config(broker, topics), name="exporter", env=kafka_env)
    # Small polls, offsets committed every 5 s: each kill lands after polls stored but not committed.
    storage = start_server(storage_config(broker, topics, f"{tag}-group", max_poll_bytes=20_000, commit_interval_ms=5000), name="storage", env=kafka_env)
    service = f"svc-{tag}"
    stop = threading.Event()
    sender = Sender(exporter.traces_url, service, stop)
    sender.start()
    for round_ in range(3):
        wait_until(lambda: len(span_keys(storage, service)) > 300 * (round_ + 1), timeout=60, what="spans consumed")
        storage.proc.send_signal(signal.SIGKILL)
        storage.proc.wait(timeout=10)
        storage.start()
    stop.set()
    sender.join(timeout=60)
    assert sender.statuses.get(200, 0) == sender.sent, f"the exporter refused requests: {sender.statuses}"
    wait_until(lambda: len(span_keys(storage, service)) >= len(sender.acked), timeout=90, what="every acknowledged span stored",
               describe=lambda: f"{len(span_keys(storage, service))} of {len(sender.acked)}")
    time.sleep(2)  # a duplicate would arrive after the last original
    stored = span_keys(storage, service)
    assert set(stored) == sender.acked
    assert len(stored) == len(set(stored)), f"{len(stored) - len(set(stored))} spans stored twice after kill -9"
    assert "resumes after what this node stored" in storage.logs()


def test_two_storage_nodes_in_one_group_split_the_partitions(broker, kafka_env, start_server):
    tag = f"group-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()), partitions=4)
    exporter = start_server(exporter_config(broker, topics), name="exporter", env=kafka_env)
    first = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage-a", env=kafka_env)
    second = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage-b", env=kafka_env)
    service = f"svc-{tag}"
    stop = threading.Event()
    sender = Sender(exporter.traces_url, service, stop, pause=0.005)
    sender.start()
    wait_until(lambda: len(sender.acked) >= 2000, timeout=90, what="2000 spans acknowledged")
    stop.set()
    sender.join(timeout=60)

    def stored():
        return set(span_keys(first, service)), set(span_keys(second, service))

    wait_until(lambda: len(stored()[0] | stored()[1]) >= len(sender.acked), timeout=90, what="every span stored by one node",
               describe=lambda: f"{len(stored()[0])} + {len(stored()[1])} of {len(sender.acked)}")
    a, b = stored()
    assert a | b == sender.acked
    assert a and b, f"one node took every partition: {len(a)} and {len(b)}"
    # A trace is one message on one partition: never split between the nodes.
    assert not ({t for t, _ in a} & {t for t, _ in b})


def test_a_full_producer_queue_is_back_pressure_and_drops_nothing(broker, kafka_env, start_server):
    tag = f"full-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    # A queue of 3 messages, 8 concurrent sink writes and a broker gone: the writes past the queue
    # are refused at once with 429 (with the default 2 writes, requests wait in the batcher instead).
    config = merge_config(exporter_config(broker, topics, queue_messages=3, delivery_timeout_ms=20000), {"batcher": {"workers": 8}})
    exporter = start_server(config, name="exporter", env=kafka_env)
    service = f"svc-{tag}"
    broker.stop()
    results: list[int] = []
    retry_after: list[str | None] = []

    def post(k: int) -> None:
        spans = [make_span(trace_id=os.urandom(16), name=f"req {k}", start=T0 + k, duration=5)]
        r = requests.post(exporter.traces_url, data=make_request(spans, service=service).SerializeToString(),
                          headers={"Content-Type": PROTOBUF}, timeout=60)
        results.append(r.status_code)
        if r.status_code == 429:
            retry_after.append(r.headers.get("Retry-After"))

    threads = [threading.Thread(target=post, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    wait_until(lambda: results.count(429) >= 1, timeout=15, what="a 429 while the producer's queue is full",
               describe=lambda: f"statuses so far {results}")
    assert exporter.metrics().total("pyflare_kafka_messages_queued") >= 1
    assert all(retry_after), f"a 429 without Retry-After: {retry_after}"
    broker.start()
    for t in threads:
        t.join(timeout=90)
    # What the queue held is delivered once the broker is back: those requests are answered 200.
    assert results.count(200) >= 1 and set(results) <= {200, 429}, results
    storage = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage", env=kafka_env)
    wait_until(lambda: len(span_keys(storage, service)) >= results.count(200), timeout=90, what="the acknowledged spans stored")
    assert len(span_keys(storage, service)) == results.count(200)


def test_spans_over_otlp_grpc_reach_the_storage_node(broker, kafka_env, start_server):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter

    tag = f"grpc-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    exporter = start_server(exporter_config(broker, topics), name="exporter", env=kafka_env)
    storage = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage", env=kafka_env)
    service = f"svc-{tag}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(GRPCSpanExporter(endpoint=f"127.0.0.1:{exporter.grpc_port}", insecure=True,
                                                                     compression=None)))
    sent = []
    for i in range(15):
        with provider.get_tracer("e2e.kafka.grpc").start_as_current_span(f"grpc call {i}") as span:
            sent.append((format(span.get_span_context().trace_id, "032x"), format(span.get_span_context().span_id, "016x")))
    provider.shutdown()
    wait_until(lambda: len(span_keys(storage, service)) >= len(sent), timeout=60, what="the gRPC spans at the storage node")
    assert sorted(span_keys(storage, service)) == sorted(sent)


def test_the_exporter_next_to_the_store_forwards_its_wal_and_holds_it_while_the_broker_is_away(broker, kafka_env, start_server):
    """`exporters.kafka.brokers` with the store: a request is acknowledged once in the WAL, and the
    WAL is forwarded. With the broker stopped the node keeps answering 200; its WAL files (sealed
    meanwhile, every 200 ms) stay until forwarded, across a kill -9; once the broker is back every
    acknowledged span reaches the storage node behind it."""
    tag = f"tee-{uuid.uuid4().hex[:6]}"
    topics = topic_names(tag)
    broker.create_topics(list(topics.values()))
    front_config = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 200},
                                               "exporters": {"kafka": {"brokers": broker.bootstrap, "topics": topics, "linger_ms": 2,
                                                                       "delivery_timeout_ms": 3000}}})
    front = start_server(front_config, name="front", env=kafka_env)
    storage = start_server(storage_config(broker, topics, f"{tag}-group"), name="storage", env=kafka_env)
    service = f"svc-{tag}"

    r = requests.post(front.traces_url, data=b'{"resourceSpans":[]}', headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and "protobuf" in r.text

    stop = threading.Event()
    sender = Sender(front.traces_url, service, stop, pause=0.01)
    sender.start()
    wait_until(lambda: len(span_keys(storage, service)) >= 200, timeout=60, what="spans forwarded before the broker stops")
    broker.stop()
    time.sleep(4)  # past the delivery timeout: the forwarder fails and retries
    wait_until(lambda: len(sender.acked) >= len(span_keys(storage, service)) + 500, timeout=60,
               what="500 spans acknowledged by the store while the broker is away")
    front.proc.send_signal(signal.SIGKILL)
    front.proc.wait(timeout=10)
    acked_before_kill = set(sender.acked)
    front.start()
    stop.set()
    sender.join(timeout=60)
    assert set(sender.statuses) <= {200, 0}, f"the store's node refused requests while the broker was away: {sender.statuses}"
    assert acked_before_kill <= set(span_keys(front, service)), "the front node's own store lost spans"
    assert "forwarding WAL records to Kafka failed; retrying" in front.logs()

    broker.start()
    wait_until(lambda: sender.acked <= set(span_keys(storage, service)), timeout=120, what="every acknowledged span forwarded",
               describe=lambda: f"{len(sender.acked - set(span_keys(storage, service)))} of {len(sender.acked)} missing")
    front_spans = span_keys(front, service)
    # (The request in flight at the kill may be stored without its 200: more, never fewer.)
    assert len(front_spans) == len(set(front_spans)) and set(front_spans) >= sender.acked
    forwarded = span_keys(storage, service)
    assert set(forwarded) == set(front_spans), "the storage node has what the front node stored"
    assert front.metrics().total("pyflare_kafka_forwarded_wal_records_total") > 0
    # Caught up: the WAL files kept for the forwarder are reclaimed by the next seals.
    wait_until(lambda: len(list((front.data_dir / "wal").glob("*.wal"))) <= 2, timeout=30, what="the WAL reclaimed once forwarded")
