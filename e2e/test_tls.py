"""TLS (issue 23): `tls.cert_file` / `tls.key_file` make all three listeners (OTLP/HTTP, OTLP/gRPC,
API) speak TLS only; the real OpenTelemetry exporters (HTTP with certificate_file, gRPC with
channel credentials) and REST work over it with the test's CA; plain HTTP and plaintext gRPC
to a TLS port get nothing; SIGHUP swaps the certificate for new connections while an open
keep-alive connection keeps working, and a bad file at SIGHUP keeps the old certificate (the
server stays up and logs an error); `tls.client_ca_file` requires a client certificate (mTLS);
auth and TLS together with the keys of two projects.

The CA, server and client certificates are made here with `cryptography` into tmp_path.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import os
import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from access_helpers import (
    TRACE_EXPORT,
    Client,
    assert_unauthenticated,
    auth_config,
    emit_spans,
    fake_key,
    grpc_export,
    grpc_metadata,
    grpc_span_exporter,
    http_span_exporter,
    post_spans,
    spans_request,
    wait_bootstrap_key,
)
from harness import STORE_CONFIG, merge_config
from store_helpers import wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify` (the
    exporters' certificate_file is one); the tests name their CA explicitly."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------


@dataclass
class Pem:
    cert: Path
    key: Path
    der: bytes  # the certificate, DER (what a peer sees)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PyFlare e2e")])


def _write(directory: Path, stem: str, cert: x509.Certificate, key) -> Pem:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Pem(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))


class CA:
    def __init__(self, directory: Path, cn: str):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _write(directory, cn, self.cert, self.key)

    def issue(self, stem: str, cn: str, client: bool = False) -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False))
        if not client:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return _write(self.directory, stem, b.sign(self.key, hashes.SHA256()), key)


@pytest.fixture
def pki(tmp_path):
    ca = CA(tmp_path / "pki", "e2e-ca")
    return {
        "ca": ca,
        "server1": ca.issue("server1", "pyflare-1"),
        "server2": ca.issue("server2", "pyflare-2"),
        "client": ca.issue("client", "e2e-client", client=True),
        "rogue_client": CA(tmp_path / "rogue", "rogue-ca").issue("rogue-client", "rogue", client=True),
    }


def install(pem: Pem, live: Path) -> dict:
    """Copies a cert/key pair to the paths the server reads (each replaced atomically)."""
    live.mkdir(parents=True, exist_ok=True)
    for src, dst in ((pem.cert, live / "server.crt"), (pem.key, live / "server.key")):
        tmp = dst.with_suffix(".tmp")
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dst)
    return {"cert_file": str(live / "server.crt"), "key_file": str(live / "server.key")}


def tls_config(files: dict, extra: dict | None = None, base: dict | None = None) -> dict:
    return merge_config(merge_config(base or STORE_CONFIG, {"tls": files}), extra)


def client_context(ca: Pem, client: Pem | None = None, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    if client:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def peer_cert(port: int, ca: Pem, client: Pem | None = None, alpn: list[str] | None = None) -> bytes:
    """The DER certificate a new TLS connection to 127.0.0.1:port is shown."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_context(ca, client, alpn).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def grpc_credentials(ca: Pem, client: Pem | None = None) -> grpc.ChannelCredentials:
    if client:
        return grpc.ssl_channel_credentials(root_certificates=ca.cert.read_bytes(), private_key=client.key.read_bytes(),
                                            certificate_chain=client.cert.read_bytes())
    return grpc.ssl_channel_credentials(root_certificates=ca.cert.read_bytes())


def secure_channel(srv, credentials) -> grpc.Channel:
    return grpc.secure_channel(f"127.0.0.1:{srv.grpc_port}", credentials)


def sql_count(srv, key: str | None = None, project: str | None = None) -> int:
    return Client(srv, key, project=project).count()


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


def test_all_listeners_speak_tls_with_the_real_exporters(start_server, pki, tmp_path):
    ca, s1 = pki["ca"].pem, pki["server1"]
    files = install(s1, tmp_path / "live")
    srv = start_server(tls_config(files), name="tls", http_kwargs={"verify": str(ca.cert)})
    assert srv.api_base.startswith("https://") and srv.otlp_base.startswith("https://")
    for port, alpn in ((srv.api_port, None), (srv.http_port, None), (srv.grpc_port, ["h2"])):
        assert peer_cert(port, ca, alpn=alpn) == s1.der, f"port {port} does not show the configured certificate"

    ex = http_span_exporter(srv, None, certificate_file=str(ca.cert))
    http_ids = emit_spans(ex, "tls-http", 2, 2)
    gx = grpc_span_exporter(srv, None, credentials=grpc_credentials(ca))
    grpc_ids = emit_spans(gx, "tls-grpc", 1, 3)
    assert ex.all_ok() and gx.all_ok(), (ex.results, gx.results)
    r = post_spans(srv, spans_request(4, "tls-json"), None, "json")
    assert r.status_code == 200, r.text
    wait_until(lambda: sql_count(srv) == 11, timeout=10, what="11 spans over TLS")
    for t in http_ids + grpc_ids:
        assert srv.api_get(f"/api/v1/traces/{t}").status_code == 200

    # plaintext to a TLS port gets nothing, and writes nothing
    for port, path in ((srv.api_port, "/health"), (srv.http_port, "/v1/traces")):
        try:
            r = requests.post(f"http://127.0.0.1:{port}{path}", data=spans_request(1, "plain").SerializeToString(),
                              headers={"Content-Type": "application/x-protobuf"}, timeout=10)
            assert r.status_code >= 400, f"plain HTTP to the TLS port {port} answered {r.status_code}"
        except requests.exceptions.ConnectionError:
            pass
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
        code, _ = grpc_export(ch, TRACE_EXPORT, spans_request(1, "plain").SerializeToString(), [], timeout=5)
        assert code != grpc.StatusCode.OK, "plaintext gRPC to the TLS port succeeded"
    # a client that does not trust the CA fails the handshake
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{srv.api_base}/health", timeout=10)
    assert sql_count(srv) == 11


def test_sighup_swaps_the_certificate_for_new_connections_and_keeps_old_ones(start_server, pki, tmp_path):
    ca, s1, s2 = pki["ca"].pem, pki["server1"], pki["server2"]
    live = tmp_path / "live"
    files = install(s1, live)
    srv = start_server(tls_config(files), name="tls-reload", http_kwargs={"verify": str(ca.cert)})
    ports = {"api": (srv.api_port, None), "otlp-http": (srv.http_port, None), "grpc": (srv.grpc_port, ["h2"])}

    kept = http.client.HTTPSConnection("127.0.0.1", srv.api_port, timeout=10, context=client_context(ca))
    kept.request("GET", "/health")
    first = kept.getresponse()
    first.read()
    assert first.status == 200 and not first.will_close, "the API closed a keep-alive connection"
    sock = kept.sock
    assert sock.getpeercert(binary_form=True) == s1.der

    install(s2, live)
    srv.proc.send_signal(signal.SIGHUP)
    for name, (port, alpn) in ports.items():
        wait_until(lambda: peer_cert(port, ca, alpn=alpn) == s2.der, timeout=10,
                   what=f"new {name} connections to get the second certificate after SIGHUP")
    kept.request("GET", "/health")
    again = kept.getresponse()
    again.read()
    assert again.status == 200 and kept.sock is sock, "the connection open at SIGHUP did not keep working"
    assert sock.getpeercert(binary_form=True) == s1.der
    kept.close()
    ex = http_span_exporter(srv, None, certificate_file=str(ca.cert))
    emit_spans(ex, "after-reload", 1, 2)
    assert ex.all_ok(), ex.results

    # a bad file at SIGHUP: old certificate kept, server up, an error logged
    bad_file_keeps_the_old_certificate(srv, ports, ca, s2, "garbage", lambda: (live / "server.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"))
    bad_file_keeps_the_old_certificate(srv, ports, ca, s2, "empty key", lambda: (live / "server.key").write_bytes(b""))
    # and a good file afterwards is taken again
    install(s1, live)
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: peer_cert(srv.api_port, ca) == s1.der, timeout=10, what="the first certificate back after SIGHUP")
    assert "PRIVATE KEY" not in srv.stderr_text(), "key material in the log"


def bad_file_keeps_the_old_certificate(srv, ports, ca: Pem, current: Pem, damage: str, spoil) -> None:
    mark = srv.log_mark()
    spoil()
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: any(w in srv.log_since(mark).lower() for w in ("error", "fail", "invalid", "could not", "cannot")),
               timeout=10, what=f"an error logged for the {damage} file at SIGHUP",
               describe=lambda: f"log since SIGHUP: {srv.log_since(mark)[-500:]!r}")
    assert srv.running, f"the server died on a {damage} file"
    for name, (port, alpn) in ports.items():
        try:
            der = peer_cert(port, ca, alpn=alpn)
        except (ssl.SSLError, OSError) as e:
            raise AssertionError(f"{name}: new TLS connections fail after a {damage} file at SIGHUP: {e}") from None
        assert der == current.der, f"{name}: the old certificate was not kept after a {damage} file"
    assert srv.api_get("/health").status_code == 200


def test_sighup_with_a_key_that_does_not_match_the_certificate_keeps_the_old_one(start_server, pki, tmp_path):
    ca, s1, s2 = pki["ca"].pem, pki["server1"], pki["server2"]
    live = tmp_path / "live"
    files = install(s1, live)
    srv = start_server(tls_config(files), name="tls-mismatch", http_kwargs={"verify": str(ca.cert)})
    ports = {"api": (srv.api_port, None), "otlp-http": (srv.http_port, None), "grpc": (srv.grpc_port, ["h2"])}

    def mismatch():
        install(s2, live)
        (live / "server.key").write_bytes(s1.key.read_bytes())  # s2's certificate with s1's key
    bad_file_keeps_the_old_certificate(srv, ports, ca, s1, "certificate whose key does not match", mismatch)


def test_client_certificates_are_required_with_a_client_ca(start_server, pki, tmp_path):
    ca, s1, client, rogue = pki["ca"].pem, pki["server1"], pki["client"], pki["rogue_client"]
    files = dict(install(s1, tmp_path / "live"), client_ca_file=str(ca.cert))
    good = {"verify": str(ca.cert), "cert": (str(client.cert), str(client.key))}
    srv = start_server(tls_config(files), name="mtls", http_kwargs=good)

    assert requests.get(f"{srv.api_base}/health", timeout=10, **good).status_code == 200
    for what, kw in (("no client certificate", {"verify": str(ca.cert)}),
                     ("a client certificate of another CA", {"verify": str(ca.cert), "cert": (str(rogue.cert), str(rogue.key))})):
        for base in (srv.api_base, srv.otlp_base):
            with pytest.raises(requests.exceptions.ConnectionError):
                r = requests.get(f"{base}/health", timeout=10, **kw)
                pytest.fail(f"{what}: {base} answered {r.status_code}")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", srv.api_port), timeout=10) as raw:
            with client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionError("closed without an answer")

    ex = http_span_exporter(srv, None, certificate_file=str(ca.cert), client_certificate_file=str(client.cert),
                            client_key_file=str(client.key))
    emit_spans(ex, "mtls-http", 1, 2)
    gx = grpc_span_exporter(srv, None, credentials=grpc_credentials(ca, client))
    emit_spans(gx, "mtls-grpc", 1, 3)
    assert ex.all_ok() and gx.all_ok(), (ex.results, gx.results)
    with secure_channel(srv, grpc_credentials(ca)) as ch:
        code, _ = grpc_export(ch, TRACE_EXPORT, spans_request(1, "no-cert").SerializeToString(), [], timeout=5)
        assert code != grpc.StatusCode.OK, "gRPC without a client certificate succeeded"
    with secure_channel(srv, grpc_credentials(ca, rogue)) as ch:
        code, _ = grpc_export(ch, TRACE_EXPORT, spans_request(1, "rogue").SerializeToString(), [], timeout=5)
        assert code != grpc.StatusCode.OK, "gRPC with a client certificate of another CA succeeded"
    wait_until(lambda: sql_count(srv) == 5, timeout=10, what="5 spans over mTLS")


def test_auth_and_tls_together_with_two_projects(start_server, pki, tmp_path):
    ca, s1 = pki["ca"].pem, pki["server1"]
    files = install(s1, tmp_path / "live")
    srv = start_server(tls_config(files, base=auth_config()), name="tls-auth", http_kwargs={"verify": str(ca.cert)})
    glob = Client(srv, wait_bootstrap_key(srv))
    keys = {}
    for p in ("tls-a", "tls-b"):
        glob.create_project(p)
        keys[p] = {s: glob.create_key(s, p)["key"] for s in ("ingest", "read")}
    sent = {"tls-a": 0, "tls-b": 0}
    traces = {"tls-a": [], "tls-b": []}
    for p, (h, g, j) in {"tls-a": ((2, 2), (1, 2), 3), "tls-b": ((1, 3), (2, 2), 1)}.items():
        ex = http_span_exporter(srv, keys[p]["ingest"], certificate_file=str(ca.cert))
        traces[p] += emit_spans(ex, f"svc-{p}", *h)
        gx = grpc_span_exporter(srv, keys[p]["ingest"], "x-api-key", credentials=grpc_credentials(ca))
        traces[p] += emit_spans(gx, f"svc-{p}", *g)
        assert ex.all_ok() and gx.all_ok(), (p, ex.results, gx.results)
        assert post_spans(srv, spans_request(j, f"svc-{p}"), keys[p]["ingest"], "json").status_code == 200
        sent[p] = h[0] * h[1] + g[0] * g[1] + j
    for p, q in (("tls-a", "tls-b"), ("tls-b", "tls-a")):
        reader = Client(srv, keys[p]["read"])
        wait_until(lambda: reader.count() == sent[p], timeout=10, what=f"{sent[p]} spans in {p}")
        assert reader.rows("SELECT DISTINCT service FROM spans") == [[f"svc-{p}"]]
        for t in traces[q]:
            assert reader.get(f"/api/v1/traces/{t}").status_code == 404
    # refusals over TLS
    assert_unauthenticated(Client(srv, fake_key()).get("/api/v1/traces"), "an unknown key over TLS")
    ex = http_span_exporter(srv, keys["tls-a"]["read"], certificate_file=str(ca.cert))
    emit_spans(ex, "refused", 1, 1)
    assert ex.results and not any(r.name == "SUCCESS" for r in ex.results)
    with secure_channel(srv, grpc_credentials(ca)) as ch:
        code, _ = grpc_export(ch, TRACE_EXPORT, spans_request(1, "refused").SerializeToString(), grpc_metadata(None))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        code, _ = grpc_export(ch, TRACE_EXPORT, spans_request(1, "refused").SerializeToString(),
                              grpc_metadata(keys["tls-b"]["ingest"], project="tls-a"))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert Client(srv, keys["tls-a"]["read"]).count() == sent["tls-a"]
    assert Client(srv, keys["tls-b"]["read"]).count() == sent["tls-b"]
