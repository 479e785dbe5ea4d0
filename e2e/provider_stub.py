"""A local HTTP server that answers like the OpenAI and Anthropic APIs, for the SDK tests.

The real `openai` and `anthropic` client packages are pointed at it with `base_url`. It answers
`POST /v1/chat/completions` and `/v1/embeddings` (OpenAI) and `POST /v1/messages` (Anthropic) with bodies and
server-sent-event streams of the shape the providers send, and with their error bodies. What it
answers is decided by the request, so one stub serves every test at once:

* the model name `stub-error-429` / `stub-error-500` (or a last user message `error 429`) gives
  that status with the provider's error JSON (and `retry-after: 0` on 429);
* a request with `tools` gets a tool call back (a function call / a `tool_use` block);
* `stream: true` gets the SSE stream, split into several text deltas; an OpenAI stream carries
  usage on its final chunk only when `stream_options.include_usage` asks for it, as OpenAI does.

Token counts are fixed per provider (USAGE below) so tests know the cost to expect. Every request
is recorded (path, headers, JSON body) for tests that check what the client sent.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Usage the stub reports: OpenAI counts cached tokens inside prompt_tokens; Anthropic reports
# input_tokens without the cache reads and writes, which come separately.
OPENAI_USAGE = {"prompt_tokens": 1200, "completion_tokens": 85, "cached_tokens": 1024, "reasoning_tokens": 0}
ANTHROPIC_USAGE = {"input_tokens": 310, "output_tokens": 42, "cache_read_input_tokens": 2048,
                   "cache_creation_input_tokens": 128}
EMBEDDING_TOKENS_PER_INPUT = 800
STREAM_TEXT = ["Hello", ", ", "world", "!"]
REPLY_TEXT = "Hello, world!"
# a pause before the first streamed event, so that time to first token is measurably > 0
FIRST_CHUNK_DELAY_S = 0.02


def _error_status(body: dict) -> int | None:
    model = str(body.get("model", ""))
    if model.startswith("stub-error-"):
        return int(model.rsplit("-", 1)[1])
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1].get("content"), str) and messages[-1]["content"].startswith("error "):
        return int(messages[-1]["content"].split()[1])
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold each response ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        self.server.stub.record(self.path, dict(self.headers), body)
        path = self.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            return self._openai(body)
        if path.endswith("/embeddings"):
            return self._openai_embeddings(body)
        if path.endswith("/messages"):
            return self._anthropic(body)
        self._json(404, {"error": {"message": f"no route {path}", "type": "not_found_error"}})

    # -- wire helpers -------------------------------------------------------------------------
    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, str]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        time.sleep(FIRST_CHUNK_DELAY_S)
        try:
            for event, data in events:
                chunk = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                self.wfile.write(chunk.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed the stream early, as a test may on purpose

    # -- OpenAI ----------------------------------------------------------------------------------
    def _openai(self, body: dict) -> None:
        status = _error_status(body)
        if status is not None:
            kind = {429: "rate_limit_exceeded", 500: "server_error"}.get(status, "invalid_request_error")
            return self._json(status, {"error": {"message": f"stub error {status}", "type": kind, "param": None,
                                                 "code": kind}}, {"retry-after": "0"} if status == 429 else None)
        model = body["model"]
        response_model = model + "-2024-08-06" if model == "gpt-4o" else model
        u = OPENAI_USAGE
        usage = {"prompt_tokens": u["prompt_tokens"], "completion_tokens": u["completion_tokens"],
                 "total_tokens": u["prompt_tokens"] + u["completion_tokens"],
                 "prompt_tokens_details": {"cached_tokens": u["cached_tokens"], "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"], "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
        created = int(time.time())
        tool = (body.get("tools") or [None])[0]
        if not body.get("stream"):
            if tool:
                message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                    {"id": "call_stub_1", "type": "function",
                     "function": {"name": tool["function"]["name"], "arguments": '{"city": "Paris"}'}}]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": REPLY_TEXT, "refusal": None}
                finish = "stop"
            return self._json(200, {"id": "chatcmpl-stub", "object": "chat.completion", "created": created,
                                    "model": response_model, "system_fingerprint": "fp_stub",
                                    "choices": [{"index": 0, "message": message, "logprobs": None,
                                                 "finish_reason": finish}],
                                    "usage": usage}, {"x-request-id": "req_stub"})

        def chunk(delta: dict, finish=None, with_usage=None):
            c = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created, "model": response_model,
                 "system_fingerprint": "fp_stub", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                                "finish_reason": finish}]}
            if with_usage is not None:
                c["choices"] = []
                c["usage"] = with_usage
            elif (body.get("stream_options") or {}).get("include_usage"):
                c["usage"] = None
            return (None, json.dumps(c))

        events = [chunk({"role": "assistant", "content": ""})]
        if tool:
            name = tool["function"]["name"]
            events.append(chunk({"tool_calls": [{"index": 0, "id": "call_stub_1", "type": "function",
                                                 "function": {"name": name, "arguments": ""}}]}))
            for part in ['{"city"', ': "Par', 'is"}']:
                events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
            events.append(chunk({}, "tool_calls"))
        else:
            events += [chunk({"content": t}) for t in STREAM_TEXT]
            events.append(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(chunk({}, with_usage=usage))
        events.append((None, "[DONE]"))
        self._sse(events)

    def _openai_embeddings(self, body: dict) -> None:
        status = _error_status(body)
        if status is not None:
            return self._json(status, {"error": {"message": f"stub error {status}", "type": "server_error"}})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vector = [0.25, -0.5, 0.125, 1.0]
        data = []
        for i, _ in enumerate(inputs):
            if body.get("encoding_format") == "base64":  # what the openai client asks for by default
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = EMBEDDING_TOKENS_PER_INPUT * len(inputs)
        self._json(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    # -- Anthropic -------------------------------------------------------------------------------
    def _anthropic(self, body: dict) -> None:
        status = _error_status(body)
        if status is not None:
            kind = {429: "rate_limit_error", 500: "api_error"}.get(status, "invalid_request_error")
            return self._json(status, {"type": "error", "error": {"type": kind, "message": f"stub error {status}"}},
                              {"retry-after": "0"} if status == 429 else None)
        model = body["model"]
        u = ANTHROPIC_USAGE
        tool = (body.get("tools") or [None])[0]
        usage = {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"],
                 "cache_read_input_tokens": u["cache_read_input_tokens"],
                 "cache_creation_input_tokens": u["cache_creation_input_tokens"]}
        if tool:
            content = [{"type": "text", "text": "Let me check."},
                       {"type": "tool_use", "id": "toolu_stub_1", "name": tool["name"], "input": {"city": "Paris"}}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": REPLY_TEXT}]
            stop = "end_turn"
        if not body.get("stream"):
            return self._json(200, {"id": "msg_stub", "type": "message", "role": "assistant", "model": model,
                                    "content": content, "stop_reason": stop, "stop_sequence": None,
                                    "usage": usage}, {"request-id": "req_stub"})
        start_usage = dict(usage, output_tokens=1)
        ev = [("message_start", {"type": "message_start", "message": {
            "id": "msg_stub", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
        for i, block in enumerate(content):
            if block["type"] == "text":
                ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}}))
                parts = STREAM_TEXT if block["text"] == REPLY_TEXT else [block["text"]]
                for t in parts:
                    ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "text_delta", "text": t}}))
            else:
                ev.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
                for part in ['{"city"', ': "Paris"}']:
                    ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "input_json_delta", "partial_json": part}}))
            ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        # the final usage: Anthropic's message_delta carries the cumulative output count
        ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": u["output_tokens"]}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        self._sse([(name, json.dumps(data)) for name, data in ev])


class ProviderStub:
    """Runs the stub on a free loopback port in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.stub = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="provider-stub", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        return self.base + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base  # the anthropic client appends /v1/messages itself

    def record(self, path: str, headers: dict, body: dict) -> None:
        with self._lock:
            self.requests.append((path, headers, body))

    def start(self) -> "ProviderStub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
