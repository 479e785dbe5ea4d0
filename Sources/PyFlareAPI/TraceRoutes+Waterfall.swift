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
    /// named once in `fields`. About 100 bytes a span instead of the full document's 1,000+:
    /// a 100,000-span trace is 10 MB to send and parse, not 100 MB. Starts are offsets from
    /// `start_time_unix_nano` (the earliest span's start), exact where a JavaScript number
    /// holding unix nanoseconds would round.
    func waterfall(_ id: String) async throws -> Response {
        let traceID = try IDParameters.traceID(id, field: "trace id")
        let stored = try await store.trace(traceID)
        guard stored.spanCount > 0 || !stored.warnings.isEmpty else {
            throw APIError.notFound("no spans stored for trace \(Hex.string(traceID))")
        }
        var traceStart = UInt64.max
        for batch in stored.batches {
            for start in batch.spans.startTimes where start < traceStart { traceStart = start }
        }
        if stored.spanCount == 0 { traceStart = 0 }
        // Each batch's rows are written in one pass over it (touching a batch per span retains
        // its dozens of column arrays each time), then copied out in display order.
        var rows = JSONWriter(capacity: 128 * stored.spanCount)
        var order: [WaterfallRowLocation] = []
        order.reserveCapacity(stored.spanCount)
        for batch in stored.batches {
            Self.waterfallRows(batch, traceStart: traceStart, into: &rows, locations: &order)
        }
        // The same order as the full document: start time, then span id.
        order.sort { $0.start != $1.start ? $0.start < $1.start : $0.spanID < $1.spanID }
        var json = JSONWriter(capacity: rows.bytes.count + order.count + 512)
        json.raw("{")
        json.member("trace_id", Hex.string(traceID))
        json.raw(#","view":"waterfall","span_count":"#)
        json.uint(UInt64(order.count))
        json.member("start_time_unix_nano", traceStart)
        json.member("fields", Self.waterfallFields)
        json.raw(#","spans":["#)
        rows.bytes.withUnsafeBufferPointer { encoded in
            json.elements(of: order) { row, json in
                json.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: encoded[Int(row.offset)..<Int(row.end)]))
            }
        }
        json.raw(#"],"warnings":"#)
        json.strings(stored.warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// Where one span's row is in the rows written batch by batch, with its sort key.
    struct WaterfallRowLocation {
        var start: UInt64
        var spanID: UInt64
        var offset: UInt32
        var end: UInt32
    }

    private static func waterfallRows(_ batch: NormalizedBatch, traceStart: UInt64, into json: inout JSONWriter,
                                      locations: inout [WaterfallRowLocation]) {
        let spans = batch.spans, columns = batch.columns
        spans.bytes.withUnsafeBytes { arena in
            func text(_ ref: StringRef) {
                json.string(utf8: UnsafeRawBufferPointer(rebasing: arena[ref.range]))
            }
            func optionalText(_ refs: [StringRef], _ span: Int) {
                if span < refs.count, !refs[span].isEmpty { text(refs[span]) } else { json.null() }
            }
            func optionalInt(_ values: [Int64?], _ span: Int) {
                if span < values.count, let value = values[span] { json.int(value) } else { json.null() }
            }
            for span in 0..<spans.count {
                let offset = json.bytes.count
                let start = spans.startTimes[span], end = spans.endTimes[span]
                json.raw(#"[""#)
                Hex.append(spans.spanIDs[span], to: &json.bytes)
                json.raw(#"",""#)
                if spans.parentSpanIDs[span] != 0 { Hex.append(spans.parentSpanIDs[span], to: &json.bytes) }
                json.raw(#"","#)
                text(spans.names[span])
                json.byte(UInt8(ascii: ","))
                json.uint(UInt64(spans.kinds[span]))
                json.byte(UInt8(ascii: ","))
                json.uint(start - traceStart)
                json.byte(UInt8(ascii: ","))
                json.uint(end >= start ? end - start : 0)
                json.byte(UInt8(ascii: ","))
                json.uint(UInt64(spans.statusCodes[span]))
                json.byte(UInt8(ascii: ","))
                optionalText(columns.service, span)
                json.byte(UInt8(ascii: ","))
                optionalText(columns.model, span)
                json.byte(UInt8(ascii: ","))
                optionalInt(columns.totalTokens, span)
                json.byte(UInt8(ascii: ","))
                optionalInt(columns.costMicros, span)
                json.byte(UInt8(ascii: "]"))
                locations.append(WaterfallRowLocation(start: start, spanID: spans.spanIDs[span],
                                                      offset: UInt32(offset), end: UInt32(json.bytes.count)))
            }
        }
    }
}
