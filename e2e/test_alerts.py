"""Alerts (issue 25): a rule over the per-minute rollups fires once while its condition lasts,
notifies a JSON webhook, a Slack-shaped receiver (retried after a 500) and a local SMTP server, resolves once when
the condition ends, stays quiet while silenced, and shows every delivery's state; spans come
through the real OpenTelemetry exporter and the rules are evaluated by the scheduler's job."""

from __future__ import annotations

import base64
import json
import socketserver
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from harness import STORE_CONFIG, merge_config, pyflare_bin, to_yaml
from store_helpers import wait_until
from test_jobs_costs import run_job

PUBLIC_URL = "https://pyflare.example.com"

def config(smtp_port: int) -> dict:
    return merge_config(STORE_CONFIG, {"scheduler": {"enabled": False},
                                       "alerts": {"public_url": PUBLIC_URL, "first_retry_ms": 200, "delivery_attempts": 3,
                                                  "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "alerts@pyflare.test"}}})


class SMTPSink:
    """A local SMTP server speaking just enough of RFC 5321, and of STARTTLS (RFC 3207), SMTPS and
    AUTH PLAIN/LOGIN (RFC 4954) when given a certificate and credentials; keeps every message it is
    given, with whether it came over TLS and as whom."""

    def __init__(self, security: str = "none", cert=None, credentials: tuple[str, str] | None = None,
                 mechanisms: str = "PLAIN LOGIN"):
        self.messages: list[dict] = []
        self.auth_failures = 0
        sink = self
        context = None
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert.cert, cert.key)

        class Handler(socketserver.StreamRequestHandler):
            def secure(self):
                self.connection = context.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb", buffering=0)

            def handle(self):
                def say(line: str):
                    self.wfile.write((line + "\r\n").encode())

                def read() -> str:
                    return self.rfile.readline().decode().rstrip("\r\n")

                def login(name: str, password: str) -> str | None:
                    if (name, password) == credentials:
                        say("235 accepted")
                        return name
                    sink.auth_failures += 1
                    say("535 5.7.8 authentication failed")
                    return None
                encrypted = security == "tls"
                if encrypted:
                    self.secure()
                say("220 sink ESMTP")
                sender, recipients, user = None, [], None
                while line := self.rfile.readline():
                    command = line.decode().rstrip("\r\n")
                    verb = command.upper()
                    if verb.startswith("EHLO"):
                        offers = ["8BITMIME"]
                        if security == "starttls" and not encrypted:
                            offers.append("STARTTLS")
                        if credentials and encrypted:
                            offers.append(f"AUTH {mechanisms}")
                        say("250-sink")
                        for index, offer in enumerate(offers):
                            say(("250 " if index == len(offers) - 1 else "250-") + offer)
                    elif verb == "STARTTLS" and security == "starttls" and not encrypted:
                        say("220 go ahead")
                        self.secure()
                        encrypted = True
                    elif verb.startswith("AUTH PLAIN ") and credentials and encrypted:
                        _, name, password = base64.b64decode(command[11:]).decode().split("\0")
                        user = login(name, password)
                    elif verb == "AUTH LOGIN" and credentials and encrypted:
                        say("334 VXNlcm5hbWU6")
                        name = base64.b64decode(read()).decode()
                        say("334 UGFzc3dvcmQ6")
                        user = login(name, base64.b64decode(read()).decode())
                    elif verb.startswith("MAIL FROM:"):
                        if credentials and user is None:
                            say("530 5.7.0 authentication required")
                            continue
                        sender = command[10:].strip(" <>")
                        say("250 ok")
                    elif verb.startswith("RCPT TO:"):
                        recipients.append(command[8:].strip(" <>"))
                        say("250 ok")
                    elif verb == "DATA":
                        say("354 end with a dot")
                        lines = []
                        while (text := read()) != ".":
                            lines.append(text[1:] if text.startswith("..") else text)
                        headers, _, body = "\n".join(lines).partition("\n\n")
                        sink.messages.append({"from": sender, "to": recipients, "body": body, "tls": encrypted, "user": user,
                                              "headers": dict(h.split(": ", 1) for h in headers.split("\n"))})
                        say("250 queued")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    else:
                        say("502 not here")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Receiver:
    """A local HTTP endpoint that records every POST and answers 500 to the first `failures`."""

    def __init__(self, failures: int = 0):
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 500 if len(receiver.statuses) < receiver.failures else 200
                receiver.statuses.append(status)
                if status == 200:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def send(srv, ok: int, errors: int, service: str = "checkout"):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url)))
    tracer = provider.get_tracer("pyflare.e2e.alerts")
    for index in range(ok + errors):
        span = tracer.start_span("POST /pay", attributes={"gen_ai.request.model": "gpt-4o-mini"})
        if index < errors:
            span.set_status(Status(StatusCode.ERROR, "card declined"))
        span.end()
    provider.shutdown()


def api(srv, method: str, path: str, expect: int = 200, **kwargs):
    r = requests.request(method, f"{srv.api_base}{path}", timeout=10, **kwargs)
    assert r.status_code == expect, (method, path, r.status_code, r.text[:400])
    return r.json() if r.content else None


def evaluate(srv):
    run_job(srv, "rollup_1m")
    run_job(srv, "alerts")


def events(srv, rule_id: int) -> list[dict]:
    return api(srv, "GET", "/api/v1/alerts/events", params={"rule_id": rule_id})["events"]


@pytest.fixture(scope="module")
def world(module_server_factory):
    hook, slack, broken, mail = Receiver(failures=2), Receiver(), Receiver(failures=10**6), SMTPSink()
    srv = module_server_factory(config(mail.port), name="alerts")
    srv.mail = mail
    yield srv, hook, slack, broken
    for receiver in (hook, slack, broken, mail):
        receiver.close()


def test_a_rule_fires_once_retries_resolves_and_stays_quiet_while_silenced(world):
    srv, hook, slack, _ = world
    rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
        "name": "checkout errors", "kind": "metric", "metric": "error_rate", "window": "15m", "operator": ">",
        "threshold": 0.2, "min_requests": 5, "filter": {"service": "checkout"},
        "channels": [{"type": "webhook", "url": hook.url}, {"type": "slack", "url": slack.url}]})
    assert rule["window"] == "15m" and rule["filter"] == {"service": "checkout"} and rule["silenced_until"] is None

    # 5 errors in 10 requests: 50% > 20%
    send(srv, ok=5, errors=5)
    evaluate(srv)
    wait_until(lambda: len(hook.bodies) == 1 and len(slack.bodies) == 1, timeout=20, what="one notification each")
    assert hook.statuses == [500, 500, 200], "retried after each 500"
    firing = hook.bodies[0]
    assert (firing["type"], firing["state"], firing["rule"]["name"]) == ("alert", "firing", "checkout errors")
    assert firing["event"]["value"] == 0.5 and firing["event"]["threshold"] == 0.2
    assert "error_rate 50.0% > 20.0%" in firing["event"]["summary"] and "service=checkout" in firing["event"]["summary"]
    assert firing["link"].startswith(PUBLIC_URL + "/#/traces?service=checkout&status=error&since=")
    assert slack.bodies[0]["text"].startswith("Firing: checkout errors")
    assert slack.bodies[0]["blocks"][0]["text"]["type"] == "mrkdwn" and PUBLIC_URL in slack.bodies[0]["blocks"][0]["text"]["text"]
    [event] = events(srv, rule["id"])
    assert event["state"] == "firing" and not event["silenced"]
    deliveries = {d["channel"]: d for d in event["deliveries"]}
    assert deliveries["webhook"]["status"] == "delivered" and deliveries["webhook"]["attempts"] == 3
    assert deliveries["webhook"]["last_error"] is None and deliveries["slack"]["attempts"] == 1

    # still above: no second notification while it lasts
    send(srv, ok=1, errors=1)
    evaluate(srv)
    time.sleep(1)
    assert len(hook.bodies) == 1 and len(slack.bodies) == 1
    assert len(events(srv, rule["id"])) == 1

    # 6 errors in 60: 10%, the condition ends: one resolution each
    send(srv, ok=48, errors=0)
    evaluate(srv)
    wait_until(lambda: len(hook.bodies) == 2 and len(slack.bodies) == 2, timeout=20, what="one resolution each")
    assert hook.bodies[1]["state"] == "resolved" and hook.bodies[1]["event"]["resolved_at"]
    assert slack.bodies[1]["text"].startswith("Resolved: checkout errors")
    assert events(srv, rule["id"])[0]["state"] == "resolved"

    # silenced: a new firing is kept, nobody is told, nor of its end
    silenced = api(srv, "POST", f"/api/v1/alerts/rules/{rule['id']}/silence", json={"for": "1h"})
    assert silenced["silenced_until"]
    send(srv, ok=0, errors=40)
    evaluate(srv)
    latest = events(srv, rule["id"])[0]
    assert latest["state"] == "firing" and latest["silenced"]
    assert {d["status"] for d in latest["deliveries"]} == {"silenced"}
    send(srv, ok=400, errors=0)
    evaluate(srv)
    time.sleep(1)
    assert events(srv, rule["id"])[0]["state"] == "resolved"
    assert len(hook.bodies) == 2 and len(slack.bodies) == 2, "nothing sent while silenced"
    unsilenced = api(srv, "DELETE", f"/api/v1/alerts/rules/{rule['id']}/silence")
    assert unsilenced["silenced_until"] is None


def test_a_channel_that_keeps_failing_is_shown_failed(world):
    srv, _, _, broken = world
    rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
        "name": "any traffic", "kind": "metric", "metric": "requests", "window": "1h", "operator": ">=", "threshold": 1,
        "filter": {"service": "inventory"}, "channels": [{"type": "webhook", "url": broken.url}]})
    send(srv, ok=3, errors=0, service="inventory")
    evaluate(srv)

    def failed():
        [event] = events(srv, rule["id"])
        return event["deliveries"][0]["status"] == "failed" and event["deliveries"][0]
    delivery = wait_until(failed, timeout=20, what="the delivery marked failed")
    assert delivery["attempts"] == 3 and delivery["last_error"] == "HTTP 500"
    assert broken.statuses == [500, 500, 500]


def email_rule_fires(srv, service: str) -> dict:
    """A metric rule over `service` with an email channel, made to fire."""
    rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
        "name": f"{service} errors", "kind": "metric", "metric": "error_rate", "window": "15m", "threshold": 0.3,
        "min_requests": 5, "filter": {"service": service}, "channels": [{"type": "email", "to": ["oncall@example.com"]}]})
    send(srv, ok=2, errors=8, service=service)
    evaluate(srv)
    return rule


def smtp_config(sink: SMTPSink, **smtp) -> dict:
    return merge_config(config(sink.port), {"alerts": {"smtp": smtp}})


@pytest.mark.parametrize("security,mechanisms", [("starttls", "PLAIN LOGIN"), ("tls", "LOGIN")])
def test_email_goes_over_tls_with_a_login(start_server, tmp_path, security, mechanisms):
    from test_tls import CA
    ca = CA(tmp_path / "pki", "smtp-ca")
    sink = SMTPSink(security=security, cert=ca.issue("smtp", "smtp.test"), credentials=("alerts", "s3cret pass"),
                    mechanisms=mechanisms)
    try:
        srv = start_server(smtp_config(sink, security=security, ca_file=str(ca.pem.cert), username="alerts",
                                       password="s3cret pass"), name=f"smtp-{security}")
        rule = email_rule_fires(srv, "ledger")
        wait_until(lambda: len(sink.messages) == 1, timeout=20, what="the email over TLS")
        message = sink.messages[0]
        assert message["tls"] and message["user"] == "alerts" and message["to"] == ["oncall@example.com"]
        assert message["headers"]["Subject"] == "[PyFlare] Firing: ledger errors"
        [event] = events(srv, rule["id"])
        assert [(d["state"], d["status"], d["attempts"]) for d in event["deliveries"]] == [("firing", "delivered", 1)]
        assert "s3cret" not in srv.logs()
    finally:
        sink.close()


def test_email_failures_name_the_step_and_never_the_password(start_server, tmp_path):
    from test_tls import CA
    ca = CA(tmp_path / "pki", "smtp-ca")
    cert = ca.issue("smtp", "smtp.test")
    # a wrong password: refused at AUTH; a server without STARTTLS: refused before anything is sent;
    # a certificate from another CA: refused at the handshake
    cases = [(SMTPSink(security="starttls", cert=cert, credentials=("alerts", "right")),
              {"ca_file": str(ca.pem.cert), "password": "wrong-password"}, "SMTP AUTH PLAIN: 535 5.7.8 authentication failed"),
             (SMTPSink(), {"ca_file": str(ca.pem.cert), "password": "wrong-password"}, "does not offer STARTTLS"),
             (SMTPSink(security="starttls", cert=cert, credentials=("alerts", "right")),
              {"ca_file": str(CA(tmp_path / "other", "other-ca").pem.cert), "password": "wrong-password"},
              "the TLS handshake failed: CERTIFICATE_VERIFY_FAILED (the certificate is not signed by a trusted CA)")]
    try:
        for index, (sink, smtp, error) in enumerate(cases):
            srv = start_server(merge_config(smtp_config(sink, security="starttls", username="alerts", **smtp),
                                            {"alerts": {"delivery_attempts": 1}}), name=f"smtp-fail-{index}")
            rule = email_rule_fires(srv, "ledger")
            wait_until(lambda: events(srv, rule["id"])[0]["deliveries"][0]["status"] == "failed", timeout=20,
                       what=f"the failed delivery ({error})")
            delivery = events(srv, rule["id"])[0]["deliveries"][0]
            assert error.lower() in delivery["last_error"].lower(), delivery
            assert "wrong-password" not in delivery["last_error"] and "wrong-password" not in srv.logs()
            assert "/" not in delivery["last_error"], "no source path of the TLS library"
            assert sink.messages == []
            srv.stop()
    finally:
        for sink, _, _ in cases:
            sink.close()


def test_a_login_without_tls_is_refused_at_start(tmp_path):
    path = tmp_path / "pyflare.yaml"
    path.write_text(to_yaml(merge_config(config(25), {"alerts": {"smtp": {"username": "alerts"}}})))
    done = subprocess.run([str(pyflare_bin()), "serve", "--config", str(path), "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "alerts.smtp.username: would send the password in the clear" in done.stderr, done.stderr


def test_rules_are_checked_edited_and_deleted(world):
    srv, hook, _, _ = world
    bad = [({"name": "x", "kind": "metric", "metric": "error_ratio", "threshold": 1}, "metric"),
           ({"name": "x", "kind": "metric", "metric": "error_rate"}, None),
           ({"name": "x", "kind": "metric", "metric": "error_rate", "threshold": 1, "window": "10s"}, "window"),
           ({"name": "x", "kind": "metric", "metric": "requests", "threshold": 1, "filter": {"region": "eu"}}, "filter.region"),
           ({"name": "x", "kind": "pattern", "types": ["error_spikes"]}, "types"),
           ({"name": "x", "kind": "pattern", "channels": [{"type": "webhook", "url": "file:///etc/passwd"}]}, "channels[0].url"),
           ({"name": "x", "kind": "pager"}, "kind")]
    for body, field in bad:
        answer = api(srv, "POST", "/api/v1/alerts/rules", expect=400, json=body)
        assert field is None or answer["error"].get("field") == field, (body, answer)
    rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
        "name": "error spikes", "kind": "pattern", "types": ["error_spike"], "min_severity": 0.5,
        "channels": [{"type": "webhook", "url": hook.url}]})
    assert rule["types"] == ["error_spike"] and rule["min_severity"] == 0.5
    edited = api(srv, "PUT", f"/api/v1/alerts/rules/{rule['id']}", json={
        "name": "any pattern", "kind": "pattern", "min_severity": 0.8, "enabled": False, "channels": []})
    assert (edited["name"], edited["types"], edited["enabled"], edited["channels"]) == ("any pattern", [], False, [])
    assert api(srv, "GET", f"/api/v1/alerts/rules/{rule['id']}")["min_severity"] == 0.8
    assert rule["id"] in [r["id"] for r in api(srv, "GET", "/api/v1/alerts/rules")["rules"]]
    api(srv, "DELETE", f"/api/v1/alerts/rules/{rule['id']}", expect=204)
    api(srv, "GET", f"/api/v1/alerts/rules/{rule['id']}", expect=404)
    api(srv, "GET", "/api/v1/alerts/rules/abc", expect=400)
    api(srv, "POST", f"/api/v1/alerts/rules/{rule['id']}/silence", expect=404, json={})


def test_an_email_channel_sends_the_firing_and_the_resolution(world):
    srv, _, _, _ = world
    mail = srv.mail
    rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
        "name": "billing errors", "kind": "metric", "metric": "error_rate", "window": "15m", "threshold": 0.3,
        "min_requests": 5, "filter": {"service": "billing"},
        "channels": [{"type": "email", "to": ["oncall@example.com", "lead@example.com"]}]})
    assert rule["channels"] == [{"type": "email", "to": ["oncall@example.com", "lead@example.com"]}]
    send(srv, ok=4, errors=6, service="billing")
    evaluate(srv)
    wait_until(lambda: len(mail.messages) == 1, timeout=20, what="the firing email")
    firing = mail.messages[0]
    assert firing["from"] == "alerts@pyflare.test" and firing["to"] == ["oncall@example.com", "lead@example.com"]
    assert firing["headers"]["Subject"] == "[PyFlare] Firing: billing errors"
    assert "error_rate 60.0% > 30.0%" in firing["body"] and f"{PUBLIC_URL}/#/traces?service=billing" in firing["body"]
    send(srv, ok=200, errors=0, service="billing")
    evaluate(srv)
    wait_until(lambda: len(mail.messages) == 2, timeout=20, what="the resolution email")
    assert mail.messages[1]["headers"]["Subject"] == "[PyFlare] Resolved: billing errors"
    assert "Resolved at: " in mail.messages[1]["body"]
    [event] = events(srv, rule["id"])
    assert [(d["state"], d["status"]) for d in event["deliveries"]] == [("firing", "delivered"), ("resolved", "delivered")]
    bad = api(srv, "POST", "/api/v1/alerts/rules", expect=400, json={
        "name": "x", "kind": "pattern", "channels": [{"type": "email", "to": ["a@b\r\nBcc: evil@x"]}]})
    assert bad["error"]["field"] == "channels[0].to"


def priced_calls(srv, count: int, user: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "assistant"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url)))
    tracer = provider.get_tracer("pyflare.e2e.alerts")
    for _ in range(count):
        tracer.start_span("chat gpt-4o", attributes={
            "gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 10_000, "gen_ai.usage.output_tokens": 1_000, "user.id": user}).end()
    provider.shutdown()


def test_a_budget_rule_notifies_past_its_fraction_and_resolves_when_the_limit_rises(world):
    srv = world[0]
    hook = Receiver()
    try:
        priced_calls(srv, 10, user="budget-user")
        wait_until(lambda: api(srv, "POST", "/api/v1/sql", json={
            "sql": "SELECT count(*) FROM spans WHERE user_id = 'budget-user'"})["rows"][0][0] == 10, what="the calls stored")
        for job in ["rollup_1m", "rollup_1h", "cost_attribution_1h", "cost_by_dimension_1h"]:
            run_job(srv, job)
        budget = api(srv, "POST", "/api/v1/costs/budgets", expect=201, json={
            "dimension": "user", "value": "budget-user", "period": "daily", "limit_usd": 0.01})
        assert budget["spent_usd"] > 0.01, budget
        assert api(srv, "POST", "/api/v1/alerts/rules", expect=400, json={
            "name": "x", "kind": "budget", "filter": {"budget": "abc"}})["error"]["field"] == "filter.budget"
        rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
            "name": "budget-user spend", "kind": "budget", "threshold": 0.8, "filter": {"budget": str(budget["id"])},
            "channels": [{"type": "webhook", "url": hook.url}]})
        assert rule["threshold"] == 0.8 and rule["filter"] == {"budget": str(budget["id"])}
        run_job(srv, "alerts")
        wait_until(lambda: len(hook.bodies) == 1, timeout=20, what="the budget notification")
        firing = hook.bodies[0]["event"]
        assert hook.bodies[0]["state"] == "firing" and firing["value"] == pytest.approx(budget["spent_usd"] / 0.01, rel=1e-6)
        assert f"budget {budget['id']} (user budget-user, daily) spent ${budget['spent_usd']:.2f} of $0.01" in firing["summary"]
        assert hook.bodies[0]["link"] == f"{PUBLIC_URL}/#/costs?budget={budget['id']}"
        run_job(srv, "alerts")
        time.sleep(0.5)
        assert len(hook.bodies) == 1, "once while it lasts"
        api(srv, "PUT", f"/api/v1/costs/budgets/{budget['id']}", json={
            "dimension": "user", "value": "budget-user", "period": "daily", "limit_usd": 1000})
        run_job(srv, "alerts")
        wait_until(lambda: len(hook.bodies) == 2, timeout=20, what="the resolution")
        assert hook.bodies[1]["state"] == "resolved"
    finally:
        hook.close()


def test_a_drift_rule_notifies_each_drifted_feature_once(start_server):
    from test_quality import HOUR, N, SEC, llm_span, quality_config, tracer_provider, wait_spans
    import numpy as np

    hook = Receiver()
    try:
        srv = start_server(merge_config(quality_config("http://127.0.0.1:9/v1"), {"alerts": {"public_url": PUBLIC_URL}}),
                           name="drift-alerts")
        now = time.time_ns()
        hour = now // HOUR * HOUR
        rng = np.random.default_rng(7)
        provider = tracer_provider(srv, "assistant")
        tracer = provider.get_tracer("pyflare.e2e.alerts")
        for window, start in [("reference", hour - 2 * HOUR), ("current", hour - HOUR)]:
            tokens = np.round(rng.normal(650 if window == "current" else 500, 50, N)).astype(int)
            for i in range(N):
                span, end = llm_span(tracer, start + i * 10 * SEC, "drift-a", {"gen_ai.usage.input_tokens": int(tokens[i])})
                span.end(end_time=end)
        provider.shutdown()
        wait_spans(srv, 2 * N)
        run_job(srv, "drift")
        rule = api(srv, "POST", "/api/v1/alerts/rules", expect=201, json={
            "name": "drift-a drift", "kind": "drift", "severities": ["significant"], "filter": {"scope": "drift-a"},
            "channels": [{"type": "webhook", "url": hook.url}]})
        assert rule["window"] == "2h" and rule["severities"] == ["significant"]
        run_job(srv, "alerts")
        wait_until(lambda: len(hook.bodies) >= 1, timeout=20, what="the drift notification")
        alerts = api(srv, "GET", "/api/v1/drift/alerts", params={"since": "2020-01-01T00:00:00Z", "scope": "drift-a"})["alerts"]
        significant = {a["feature"] for a in alerts if a["severity"] == "significant"}
        assert "input_tokens" in significant
        assert {b["event"]["key"].split("|")[0] for b in hook.bodies} == significant
        token_alert = next(b for b in hook.bodies if b["event"]["key"].startswith("input_tokens|"))
        assert "input_tokens drifted (psi" in token_alert["event"]["summary"] and "significant" in token_alert["event"]["summary"]
        assert token_alert["link"] == f"{PUBLIC_URL}/#/quality?feature=input_tokens&scope=drift-a"
        run_job(srv, "alerts")
        time.sleep(0.5)
        assert len(hook.bodies) == len(significant), "each once while it lasts"
    finally:
        hook.close()
