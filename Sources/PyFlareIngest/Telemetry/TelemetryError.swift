/// Why the telemetry receiver refused a call. The REST API answers each kind with its status
/// (`APIError(TelemetryError)`), as the OTLP receivers answer an export's outcome.
public struct TelemetryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// At a limit of open spans or of their memory; a retry after ``retryAfterSeconds`` may pass.
        case busy
        /// The span id is taken, or the span is being finished or finished already.
        case conflict
        /// The span has as many tags or logs as it may.
        case limitReached
        /// No open span has this id.
        case notFound
        /// Shutting down, storage failed or there is no store; a retry may pass.
        case unavailable
        /// Ingest refused a request the receiver built: a fault of ours, not the client's.
        case refused
    }

    public var kind: Kind
    public var message: String
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, _ message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }

    static let shuttingDown = TelemetryError(.unavailable, "the server is shutting down", retryAfterSeconds: 5)
}
