import Hummingbird
import PyFlareModel
import PyFlareStore
import PyFlareWire

extension TraceRoutes {
    /// The fields of each row of `GET /api/v1/traces/{id}?view=waterfall`, in order.
    static let waterfallFields = [
        "span_id", "parent_span_id", "name", "kind", "start_offset_ns", "duration_ns", "status_code",
        "service", "model", "total_tokens", "cost_micros",
    ]

    /// `?view=waterfall`: what a timeline needs of every span, one array per span, the columns
    /// named once in `fields`. About 120 bytes a span instead of the full document's 1,000+:
    /// a 100,000-span trace is 12 MB to send and parse, not 100 MB. Starts are offsets from
    /// `start_time_unix_nano` (the earliest span's start), exact where a JavaScript number
    /// holding unix nanoseconds would round.
    func waterfall(_ id: String) async throws -> Response {
        let traceID = try IDParameters.traceID(id, field: "trace id")
        let stored = try await store.trace(traceID)
        guard stored.spanCount > 0 || !stored.warnings.isEmpty else {
            throw APIError.notFound("no spans stored for trace \(Hex.string(traceID))")
        }
        var order: [(batch: Int32, span: Int32)] = []
        order.reserveCapacity(stored.spanCount)
        var traceStart = UInt64.max
        for (batchIndex, batch) in stored.batches.enumerated() {
            for span in 0..<batch.count {
                order.append((Int32(batchIndex), Int32(span)))
                traceStart = min(traceStart, batch.spans.startTimes[span])
            }
        }
        // The same order as the full document: start time, then span id.
        order.sort { lhs, rhs in
            let left = stored.batches[Int(lhs.batch)].spans, right = stored.batches[Int(rhs.batch)].spans
            return (left.startTimes[Int(lhs.span)], left.spanIDs[Int(lhs.span)]) < (right.startTimes[Int(rhs.span)], right.spanIDs[Int(rhs.span)])
        }
        if order.isEmpty { traceStart = 0 }
        var json = JSONWriter(capacity: 160 * order.count + 256)
        json.raw(#"{"trace_id":"#)
        json.string(Hex.string(traceID))
        json.raw(#","view":"waterfall","span_count":"#)
        json.uint(UInt64(order.count))
        json.raw(#","start_time_unix_nano":"#)
        json.uint(traceStart)
        json.raw(#","fields":"#)
        json.strings(Self.waterfallFields)
        json.raw(#","spans":["#)
        for (index, entry) in order.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            Self.waterfallRow(stored.batches[Int(entry.batch)], span: Int(entry.span), traceStart: traceStart, into: &json)
        }
        json.raw(#"],"warnings":"#)
        json.strings(stored.warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    private static func waterfallRow(_ batch: NormalizedBatch, span: Int, traceStart: UInt64, into json: inout JSONWriter) {
        let spans = batch.spans, columns = batch.columns
        spans.bytes.withUnsafeBytes { arena in
            func text(_ ref: StringRef) {
                json.string(utf8: UnsafeRawBufferPointer(rebasing: arena[ref.range]))
            }
            func optionalText(_ ref: StringRef) {
                if ref.isEmpty { json.null() } else { text(ref) }
            }
            json.raw(#"[""#)
            Hex.append(spans.spanIDs[span], to: &json.bytes)
            json.raw(#"",""#)
            if spans.parentSpanIDs[span] != 0 { Hex.append(spans.parentSpanIDs[span], to: &json.bytes) }
            json.raw(#"","#)
            text(spans.names[span])
            json.byte(UInt8(ascii: ","))
            json.uint(UInt64(spans.kinds[span]))
            json.byte(UInt8(ascii: ","))
            json.uint(spans.startTimes[span] - traceStart)
            json.byte(UInt8(ascii: ","))
            json.uint(spans.endTimes[span] >= spans.startTimes[span] ? spans.endTimes[span] - spans.startTimes[span] : 0)
            json.byte(UInt8(ascii: ","))
            json.uint(UInt64(spans.statusCodes[span]))
            json.byte(UInt8(ascii: ","))
            optionalText(span < columns.service.count ? columns.service[span] : .empty)
            json.byte(UInt8(ascii: ","))
            optionalText(span < columns.model.count ? columns.model[span] : .empty)
            json.byte(UInt8(ascii: ","))
            if span < columns.totalTokens.count, let tokens = columns.totalTokens[span] { json.int(tokens) } else { json.null() }
            json.byte(UInt8(ascii: ","))
            if span < columns.costMicros.count, let cost = columns.costMicros[span] { json.int(cost) } else { json.null() }
            json.byte(UInt8(ascii: "]"))
        }
    }
}
