import GRPCCore
import PyFlareWire

/// The retry hint of an UNAVAILABLE answer, in the two places OTLP clients look for it:
/// `google.rpc.retryinfo-bin` (a serialized `google.rpc.RetryInfo`, read by the Python
/// exporter) and `grpc-status-details-bin` (a `google.rpc.Status` whose details hold the
/// RetryInfo, read by the Go and Java exporters and the Collector).
enum RetryInfo {
    static func metadata(code: Int, message: String, retryAfterSeconds: Int) -> Metadata {
        // RetryInfo { retry_delay (1): Duration { seconds (1) } }
        var retryInfo = ProtoWriter()
        retryInfo.messageField(1) { $0.varintField(1, UInt64(retryAfterSeconds)) }
        // Status { code (1), message (2), details (3): Any { type_url (1), value (2) } }
        var status = ProtoWriter()
        status.varintField(1, UInt64(code))
        status.stringField(2, message)
        status.messageField(3) { any in
            any.stringField(1, "type.googleapis.com/google.rpc.RetryInfo")
            any.bytesField(2, retryInfo.bytes)
        }
        var metadata = Metadata()
        metadata.addBinary(retryInfo.bytes, forKey: "google.rpc.retryinfo-bin")
        metadata.addBinary(status.bytes, forKey: "grpc-status-details-bin")
        return metadata
    }
}
