public import Hummingbird
public import PyFlareAccess

/// Which project's `OTLPExport` a request goes to, decided from its credentials alone (no file
/// or database is read, so receivers ask on their event loop), or why it goes nowhere.
public protocol ExportDirectory: Sendable {
    func export(for request: AccessRequest) -> Result<OTLPExport, AccessDenial>
    /// Shared by every project's pipeline: the receivers count requests here.
    var metrics: IngestMetrics { get }
}

/// One export for every request: a server without projects and keys (tests, benchmarks).
public struct SingleExport: ExportDirectory {
    public let export: OTLPExport

    public init(_ export: OTLPExport) {
        self.export = export
    }

    public func export(for request: AccessRequest) -> Result<OTLPExport, AccessDenial> { .success(export) }
    public var metrics: IngestMetrics { export.pipeline.metrics }
}

extension AccessDenial {
    /// The HTTP status of the refusal, on every HTTP listener.
    public var httpStatus: HTTPResponse.Status {
        switch kind {
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .unknownProject: .notFound
        case .throttled: .tooManyRequests
        }
    }

    /// The gRPC status code: in OTLP/HTTP's `google.rpc.Status` body and as the gRPC status.
    /// A throttled client is told UNAUTHENTICATED, which OTLP exporters do not retry at once.
    public var grpcCode: Int {
        switch kind {
        case .unauthenticated, .throttled: 16
        case .forbidden: 7
        case .unknownProject: 5
        }
    }

    /// The REST error code.
    public var code: String {
        switch kind {
        case .unauthenticated: "unauthenticated"
        case .forbidden: "forbidden"
        case .unknownProject: "unknown_project"
        case .throttled: "too_many_failures"
        }
    }
}
