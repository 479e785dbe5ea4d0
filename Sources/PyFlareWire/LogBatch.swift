/// Decoded log records as a struct of arrays: one array per field, one element per record.
///
/// Built like ``SpanBatch`` so logs flow through the same pipeline shape without an object
/// per record: strings are ``StringRef``s into ``bytes`` (for protobuf input, the request body
/// itself), and the attributes of resources, scopes and records share ``attributes``.
///
/// A record whose `trace_id` is present but not 16 bytes (in JSON: not 32 hex digits), or whose
/// `span_id` is present but not 8 bytes (16 hex digits), is refused on its own, like a span
/// with a bad id: it is counted in ``rejectedCount`` and left out, and the rest of the request
/// is kept. Absent (empty) ids are normal for logs and read as zero.
public struct LogBatch: OTLPBatch, Sendable {
    /// The arena every ``StringRef`` of this batch points into.
    public var bytes: [UInt8]
    /// Where the request was consumed from (the Kafka receiver); empty for OTLP.
    public var sourceOffsets: [SourceOffset] = []

    public var resources = ResourceTable()
    public var scopes = ScopeTable()

    // Log record columns, one element per record.
    /// `time_unix_nano`: when the event happened; 0 when the source did not say.
    public var times: [UInt64] = []
    /// `observed_time_unix_nano`: when the collection system saw the event.
    public var observedTimes: [UInt64] = []
    /// OTLP `SeverityNumber`: 0 unspecified, 1–4 trace, 5–8 debug, 9–12 info, 13–16 warn,
    /// 17–20 error, 21–24 fatal (values outside 0–24 are kept as sent, capped at 255).
    public var severityNumbers: [UInt8] = []
    /// The severity as the source named it ("WARN", "Information", …), kept because sources
    /// that set no number still set this.
    public var severityTexts: [StringRef] = []
    /// The records' bodies, exactly one row per record with an empty key, so a body of any
    /// `AnyValue` kind is read like an attribute value; ``ValueKind/empty`` when absent.
    public var bodies = AttributeTable()
    /// Each record's rows in ``attributes``.
    public var recordAttributes: [RowRange] = []
    /// Attributes the sender dropped, so consumers can tell a record was cut short.
    public var droppedAttributeCounts: [UInt32] = []
    /// `LogRecordFlags`: the low byte holds the W3C trace flags.
    public var flags: [UInt32] = []
    /// ``TraceID/zero`` when the record is not tied to a trace.
    public var traceIDs: [TraceID] = []
    /// 0 when the record is not tied to a span.
    public var spanIDs: [UInt64] = []
    /// `event_name`: the name that makes a record an event; empty for plain logs.
    public var eventNames: [StringRef] = []
    /// Index into ``scopes``.
    public var scopeIndices: [UInt32] = []

    /// Attributes of resources, scopes and records.
    public var attributes = AttributeTable()
    /// Elements of array and key/value-list values, from ``attributes`` and ``bodies``.
    public var nestedValues = AttributeTable()

    /// Records refused one by one (ids of the wrong length); the others were kept.
    public var rejectedCount = 0
    /// Why the first refused record was refused, for the response's `partial_success`.
    public var rejectionMessage: String?

    /// An empty batch on `bytes`; the decoders build batches, this is for builders and tests.
    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// The number of records kept (refused ones are not in the columns).
    @inlinable public var count: Int { times.count }
    @inlinable public var isEmpty: Bool { times.isEmpty }
}

/// The fields of one log record as a decoder collects them, before the record is appended.
struct LogFields {
    var time: UInt64 = 0
    var observedTime: UInt64 = 0
    var severityNumber: UInt8 = 0
    var severityText = StringRef.empty
    var body = KeyValueRow(key: .empty, kind: .empty, payload: 0)
    var droppedAttributes: UInt32 = 0
    var flags: UInt32 = 0
    var traceID = TraceID.zero
    var spanID: UInt64 = 0
    var eventName = StringRef.empty
    /// What is wrong with the trace id, if it could not be read; the record is then refused.
    var invalidTraceID: String?
    var invalidSpanID: String?
}

/// Helpers both log decoders use while they append records.
extension LogBatch {
    /// Table sizes before a record was decoded, to drop its rows if the record is refused.
    struct RollbackPoint {
        var attributes, nestedValues: Int
    }

    func rollbackPoint() -> RollbackPoint {
        RollbackPoint(attributes: attributes.count, nestedValues: nestedValues.count)
    }

    /// Appends a decoded record whose attribute rows start at `rollback`; refuses it instead
    /// (dropping its rows and its body's nested values) if one of its ids could not be read.
    mutating func appendRecord(_ record: LogFields, scopeIndex: Int, since rollback: RollbackPoint, at offset: Int) {
        let lateTime = UnixTime.isStorable(record.time) && UnixTime.isStorable(record.observedTime)
            ? nil : "a time after \(UnixTime.latestText), the latest PyFlare stores"
        if let problem = record.invalidTraceID ?? record.invalidSpanID ?? lateTime {
            attributes.truncate(to: rollback.attributes)
            nestedValues.truncate(to: rollback.nestedValues)
            rejectedCount += 1
            if rejectionMessage == nil { rejectionMessage = "log record at byte \(offset) refused: \(problem)" }
            return
        }
        times.append(record.time)
        observedTimes.append(record.observedTime)
        severityNumbers.append(record.severityNumber)
        severityTexts.append(record.severityText)
        bodies.append(record.body)
        recordAttributes.append(attributeRows(since: rollback.attributes))
        droppedAttributeCounts.append(record.droppedAttributes)
        flags.append(record.flags)
        traceIDs.append(record.traceID)
        spanIDs.append(record.spanID)
        eventNames.append(record.eventName)
        scopeIndices.append(UInt32(scopeIndex))
    }

    /// `SeverityNumber` names, by number, for OTLP/JSON senders that write enums by name.
    static let severityNames: [String] = ["SEVERITY_NUMBER_UNSPECIFIED"] + ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].flatMap { level in
        ["", "2", "3", "4"].map { "SEVERITY_NUMBER_\(level)\($0)" }
    }
}
