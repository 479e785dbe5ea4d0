/// The columns of a log record block, as stored in log segments and WAL records
/// (`docs/segment-format.md`, "Log record columns").
package enum LogColumn: UInt8, SegmentColumn {
    static let segmentKind = SegmentKind.logs

    case time = 1, observedTime, severityNumber, severityText, body, attributes, droppedAttributes, flags
    case traceID, spanID, eventName, resource, scope, service

    var name: String {
        switch self {
        case .time: "time"
        case .observedTime: "observed_time"
        case .severityNumber: "severity_number"
        case .severityText: "severity_text"
        case .body: "body"
        case .attributes: "attributes"
        case .droppedAttributes: "dropped_attributes_count"
        case .flags: "flags"
        case .traceID: "trace_id"
        case .spanID: "span_id"
        case .eventName: "event_name"
        case .resource: "resource"
        case .scope: "scope"
        case .service: "service"
        }
    }

    var encoding: ColumnEncoding {
        switch self {
        case .time, .observedTime: .deltaVarint
        case .severityNumber, .droppedAttributes, .flags: .varint
        case .severityText, .eventName, .resource, .scope, .service: .dictionary
        case .body, .attributes: .blobs
        case .traceID: .idDictionary
        case .spanID: .fixed64
        }
    }

    /// Bodies are mostly text, which compresses far better at a higher level.
    var compressionLevel: Int32 { self == .body ? 3 : 1 }
}
