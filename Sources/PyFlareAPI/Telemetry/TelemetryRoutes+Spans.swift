import Hummingbird
import PyFlareIngest
import PyFlareModel
import PyFlareStore
import PyFlareWire

/// `POST /api/v1/telemetry/traces/spans` and the `tags`, `logs` and `finish` routes of a span.
extension TelemetryRoutes {
    /// `{"name", "parent_trace_id"?, "parent_span_id"?, "tags"?}` → 201 `{"trace_id", "span_id", "parent_span_id"}`.
    func startSpan(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, maxBytes: configuration.maxBodyBytes)
        let fields = JSONFields(body)
        let name = try fields.requiredString("name")
        let tags = try TelemetryTags(json: body["tags"], field: "tags")
        var traceID: TraceID?
        if let text = try fields.string("parent_trace_id") {
            traceID = try IDParameters.traceID(text, field: "parent_trace_id")
        }
        var parentSpanID: UInt64 = 0
        if let text = try fields.string("parent_span_id") {
            parentSpanID = try IDParameters.spanID(text, field: "parent_span_id")
            let known = spans.trace(of: parentSpanID)
            if let traceID, let known, known != traceID {
                throw APIError.badRequest("parent_span_id \(text) is a span of trace \(Hex.string(known)), not of parent_trace_id \(Hex.string(traceID))")
            }
            guard let trace = traceID ?? known else {
                throw APIError.badRequest("parent_span_id \(text) is not a span this API knows; give its parent_trace_id too")
            }
            traceID = trace
        } else if let traceID {
            // Under the trace's root, so the trace keeps one root.
            if let root = spans.root(of: traceID) {
                parentSpanID = root
            } else {
                parentSpanID = await storedRoot(of: traceID) ?? 0
            }
        }
        let span = try receive { () throws(TelemetryError) in try spans.start(name: name, traceID: traceID, parentSpanID: parentSpanID, tags: tags) }
        var json = JSONWriter()
        ids(of: span, into: &json)
        json.key("parent_span_id")
        if span.parentSpanID == 0 { json.null() } else { json.string(Hex.string(span.parentSpanID)) }
        json.byte(UInt8(ascii: "}"))
        return .json(json, status: .created)
    }

    /// The earliest root span stored for `trace`, if any (a trace an OTLP exporter began).
    private func storedRoot(of trace: TraceID) async -> UInt64? {
        guard let stored = try? await store.trace(trace) else { return nil }
        var best: (start: UInt64, id: UInt64)?
        for batch in stored.batches {
            for row in 0..<batch.count where batch.spans.parentSpanIDs[row] == 0 {
                let candidate = (batch.spans.startTimes[row], batch.spans.spanIDs[row])
                if best.map({ candidate < $0 }) ?? true { best = candidate }
            }
        }
        return best?.id
    }

    /// `{"tags": {...}}` (or the tags object itself) → the span's tags after the merge.
    func addTags(_ request: Request, spanID text: String) async throws -> Response {
        let id = try IDParameters.spanID(text, field: "span id")
        let body = try await JSONBody.read(request, maxBytes: configuration.maxBodyBytes)
        let tags = try TelemetryTags(json: body["tags"] ?? body, field: "tags")
        let span = try receive { () throws(TelemetryError) in try spans.update(id) { $0.tags.merge(tags) } }
        var json = JSONWriter()
        ids(of: span, into: &json)
        json.key("tags")
        json.attributes(span.tags.attributes)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `{"message", "level"?, "tags"?, "timestamp"?}` → a span event; answers the span's log count.
    func addLog(_ request: Request, spanID text: String) async throws -> Response {
        let id = try IDParameters.spanID(text, field: "span id")
        let body = try await JSONBody.read(request, maxBytes: configuration.maxBodyBytes)
        let fields = JSONFields(body)
        let message = try fields.requiredString("message")
        let level = try fields.string("level") ?? "info"
        guard !level.isEmpty else { throw APIError.badRequest("level must not be empty (it defaults to \"info\")") }
        let tags = try TelemetryTags(json: body["tags"], field: "tags")
        let time = try TelemetryTime.timestamp(fields) ?? spans.now()
        let span = try receive { () throws(TelemetryError) in
            try spans.update(id) { span in
                span.events.append(TelemetrySpan.Event(time: time, message: message, level: level, tags: tags))
            }
        }
        var json = JSONWriter()
        ids(of: span, into: &json)
        json.member("log_count", span.events.count)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `{"status"?: "ok"|"error", "message"?, "tags"?}` (or no body: ok) → the span, written.
    ///
    /// Answers once the span is durable. If it cannot be written (429, 503), the span stays
    /// open as it was, so the client can finish it again.
    func finish(_ request: Request, spanID text: String) async throws -> Response {
        let id = try IDParameters.spanID(text, field: "span id")
        let body = try await JSONBody.read(request, maxBytes: configuration.maxBodyBytes, allowEmpty: true)
        let fields = JSONFields(body)
        let statusText = try fields.string("status") ?? "ok"
        guard let status = TelemetrySpan.Status(rawValue: statusText.lowercased()) else {
            throw APIError.badRequest("status must be \"ok\" or \"error\", not \"\(statusText)\"")
        }
        let message = try fields.string("message") ?? ""
        let tags = try TelemetryTags(json: body["tags"], field: "tags")
        let span = try receive { () throws(TelemetryError) in try spans.beginFinish(id, status: status, message: message, tags: tags) }
        do throws(TelemetryError) {
            try await writer.write([span])
        } catch {
            spans.endFinish([span], written: false)
            throw APIError(error)
        }
        spans.endFinish([span], written: true)
        var json = JSONWriter()
        ids(of: span, into: &json)
        json.member("status", status.rawValue)
        json.member("start_time_unix_nano", span.startTime)
        json.member("end_time_unix_nano", span.endTime)
        json.member("duration_ms", Double(span.endTime - span.startTime) / 1e6)
        json.member("log_count", span.events.count)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `{"trace_id":…,"span_id":…` (left open).
    private func ids(of span: TelemetrySpan, into json: inout JSONWriter) {
        json.raw("{")
        json.member("trace_id", Hex.string(span.traceID))
        json.member("span_id", Hex.string(span.spanID))
    }
}
