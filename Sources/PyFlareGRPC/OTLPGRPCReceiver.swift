import GRPCCore
import GRPCNIOTransportCore
public import GRPCNIOTransportHTTP2Posix
public import Logging
import PyFlareAccess
import PyFlareIngest
import PyFlareWire
public import ServiceLifecycle

/// OTLP/gRPC: `TraceService/Export`, `LogsService/Export` and `MetricsService/Export` over
/// HTTP/2 (grpc-swift 2 with its NIO transport), through the same decoders, pipeline and
/// store as OTLP/HTTP.
///
/// Status codes follow the OTLP specification: INVALID_ARGUMENT for a malformed request,
/// UNAVAILABLE with a RetryInfo under backpressure or while storage fails (clients retry
/// those), partial success in the response message. gzip and deflate message compression
/// are accepted; `maxMessageBytes` bounds a message after decompression.
///
/// The key in the request metadata (`authorization: Bearer …` or `x-api-key`) chooses the
/// project before the message is read: UNAUTHENTICATED without a valid one, PERMISSION_DENIED
/// for a key that may not write there.
public struct OTLPGRPCReceiver: Service {
    public let exports: any ExportDirectory
    public let host: String
    public let port: Int
    public let maxMessageBytes: Int
    /// Plaintext, or TLS with the server's reloading certificates.
    let transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity
    let logger: Logger

    /// Called once the transport accepts connections.
    let onListening: @Sendable () -> Void

    public init(exports: any ExportDirectory, host: String, port: Int, maxMessageBytes: Int,
                transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity = .plaintext, logger: Logger,
                onListening: @escaping @Sendable () -> Void = {}) {
        self.exports = exports
        self.transportSecurity = transportSecurity
        self.host = host
        self.port = port
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
        self.onListening = onListening
    }

    static let services: [(service: String, signal: OTLPResponse.Signal)] = [
        ("opentelemetry.proto.collector.trace.v1.TraceService", .traces),
        ("opentelemetry.proto.collector.logs.v1.LogsService", .logs),
        ("opentelemetry.proto.collector.metrics.v1.MetricsService", .metrics),
    ]

    public func run() async throws {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.compression.enabledAlgorithms = .all
        // The transport's defaults (a 64 KiB window, 16 KiB frames) make a 1 MB export wait for
        // a dozen WINDOW_UPDATE round trips; OTLP clients send such messages all the time.
        config.http2.targetWindowSize = 8 << 20
        config.http2.maxFrameSize = 1 << 20
        // The transport can only reset the stream (the client sees CANCELLED); a message up to
        // 4× the limit reaches `handle`, which answers RESOURCE_EXHAUSTED as OTLP clients expect.
        config.rpc.maxRequestPayloadSize = maxMessageBytes.multipliedReportingOverflow(by: 4).overflow ? .max : maxMessageBytes * 4
        let transport = HTTP2ServerTransport.Posix(address: address, transportSecurity: transportSecurity, config: config)
        var router = RPCRouter<HTTP2ServerTransport.Posix>()
        for (service, signal) in Self.services {
            router.registerHandler(
                forMethod: MethodDescriptor(fullyQualifiedService: service, method: "Export"),
                deserializer: RawMessageDeserializer(), serializer: RawMessageSerializer()
            ) { request, context in
                let export = try authorize(signal, metadata: request.metadata, peer: context.remotePeer)
                let single = try await ServerRequest(stream: request)
                let response = try await handle(signal, body: single.message, into: export)
                return StreamingServerResponse(single: ServerResponse(message: response))
            }
        }
        let server = GRPCServer(transport: transport, router: router)
        let logger = self.logger, onListening = self.onListening
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                if let address = try? await transport.listeningAddress {
                    onListening()
                    logger.info("OTLP/gRPC receiver listening", metadata: ["address": "\(address)"])
                }
            }
            try await withGracefulShutdownHandler {
                try await server.serve()
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        }
    }

    /// The transport takes IP addresses only; `localhost` is the one name worth accepting.
    private var address: GRPCNIOTransportCore.SocketAddress {
        let literal = host == "localhost" ? "127.0.0.1" : host
        return literal.contains(":") ? .ipv6(host: literal, port: port) : .ipv4(host: literal, port: port)
    }

    /// The project's export the request's key allows, or the RPCError that refuses it.
    func authorize(_ signal: OTLPResponse.Signal, metadata: Metadata, peer: String) throws(RPCError) -> OTLPExport {
        func first(_ key: String) -> String? { metadata[stringValues: key].first(where: { _ in true }) }
        let access = AccessRequest(authorization: first("authorization"), apiKey: first("x-api-key"),
                                   project: first("x-pyflare-project"), clientAddress: AccessRequest.host(ofPeer: peer))
        switch exports.export(for: access) {
        case .success(let export): return export
        case .failure(let denial):
            exports.metrics.recordGRPCRequest(signal: "\(signal)", code: denial.grpcCode)
            let code: RPCError.Code = switch denial.kind {
            case .unauthenticated, .throttled: .unauthenticated
            case .forbidden: .permissionDenied
            case .unknownProject: .notFound
            }
            throw RPCError(code: code, message: denial.message)
        }
    }

    /// The Export response, or the RPCError a client should see.
    func handle(_ signal: OTLPResponse.Signal, body: [UInt8], into export: OTLPExport) async throws(RPCError) -> [UInt8] {
        guard body.count <= maxMessageBytes else {
            export.pipeline.metrics.recordGRPCRequest(signal: "\(signal)", code: RPCError.Code.resourceExhausted.rawValue)
            throw RPCError(code: .resourceExhausted,
                           message: "message of \(body.count) bytes exceeds otlp.grpc.max_message_bytes (\(maxMessageBytes), after decompression)")
        }
        let outcome = await export.export(signal, body: body, json: false)
        let code: RPCError.Code
        switch outcome {
        case .accepted(let rejected, let message):
            export.pipeline.metrics.recordGRPCRequest(signal: "\(signal)", code: 0)
            return OTLPResponse.exportProtobuf(rejected: rejected, message: message)
        case .malformed: code = .invalidArgument
        case .full, .closed, .failed: code = .unavailable
        }
        let message = outcome.errorMessage ?? ""
        export.pipeline.metrics.recordGRPCRequest(signal: "\(signal)", code: code.rawValue)
        if code == .invalidArgument { logger.debug("rejected OTLP/gRPC request", metadata: ["reason": "\(message)"]) }
        let metadata = OTLPExport.retryAfterSeconds(outcome).map {
            RetryInfo.metadata(code: code.rawValue, message: message, retryAfterSeconds: $0)
        } ?? [:]
        throw RPCError(code: code, message: message, metadata: metadata)
    }
}
