/// The bodies OTLP receivers answer with, in protobuf and OTLP/JSON.
public enum OTLPResponse {
    /// The signal an `Export*ServiceResponse` answers; it names the rejected-count field in JSON.
    public enum Signal: Sendable {
        case traces, logs, metrics

        var rejectedFieldName: StaticString {
            switch self {
            case .traces: "rejectedSpans"
            case .logs: "rejectedLogRecords"
            case .metrics: "rejectedDataPoints"
            }
        }
    }

    /// `Export{Trace,Logs,Metrics}ServiceResponse`: empty on full success, else `partial_success`
    /// (field 1) with the rejected count (field 1) and an error message (field 2).
    public static func exportProtobuf(rejected: Int, message: String?) -> [UInt8] {
        guard rejected > 0 || !(message ?? "").isEmpty else { return [] }
        var writer = ProtoWriter()
        writer.messageField(1) { partial in
            if rejected > 0 { partial.varintField(1, UInt64(rejected)) }
            if let message, !message.isEmpty { partial.stringField(2, message) }
        }
        return writer.bytes
    }

    public static func exportJSON(signal: Signal, rejected: Int, message: String?) -> [UInt8] {
        guard rejected > 0 || !(message ?? "").isEmpty else { return Array("{}".utf8) }
        var json = JSONWriter()
        json.raw("{\"partialSuccess\":{")
        json.byte(UInt8(ascii: "\""))
        json.raw(signal.rejectedFieldName)
        json.raw("\":\"")
        json.uint(UInt64(rejected))
        json.byte(UInt8(ascii: "\""))
        if let message, !message.isEmpty {
            json.raw(",\"errorMessage\":")
            json.string(message)
        }
        json.raw("}}")
        return json.bytes
    }

    /// `google.rpc.Status` with a gRPC code (3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE …).
    public static func statusProtobuf(code: Int, message: String) -> [UInt8] {
        var writer = ProtoWriter()
        writer.varintField(1, UInt64(code))
        writer.stringField(2, message)
        return writer.bytes
    }

    public static func statusJSON(code: Int, message: String) -> [UInt8] {
        var json = JSONWriter()
        json.raw("{\"code\":")
        json.int(Int64(code))
        json.raw(",\"message\":")
        json.string(message)
        json.raw("}")
        return json.bytes
    }
}
