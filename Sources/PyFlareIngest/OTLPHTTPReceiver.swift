import CompressNIO
import Foundation
import CoreMetrics
public import Hummingbird
import Logging
import NIOCore
import PyFlareWire
import PyFlareAccess

/// `POST /v1/traces`, `/v1/logs` and `/v1/metrics` per the OTLP/HTTP specification.
///
/// Accepts protobuf and JSON bodies, identity, gzip or deflate (zlib) encoded. The size
/// limit applies to the body after decompression, and decompression stops as soon as it
/// is passed, so a small gzip bomb costs at most the limit. Answers in the request's
/// encoding: an `ExportTraceServiceResponse` on success (with `partial_success` when some
/// spans were refused), a `google.rpc.Status` on failure.
///
/// The request's key (`Authorization: Bearer` or `x-api-key`) chooses the project's export
/// before the body is read; a refused request writes nothing.
public struct OTLPHTTPReceiver: Sendable {
    public let exports: any ExportDirectory
    /// Largest accepted body, after decompression.
    public let maxBodyBytes: Int
    let logger: Logger

    var metrics: IngestMetrics { exports.metrics }

    public init(exports: any ExportDirectory, maxBodyBytes: Int, logger: Logger) {
        self.exports = exports
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    public func addRoutes(to router: Router<PyFlareRequestContext>) {
        for (path, signal) in [("/v1/traces", OTLPResponse.Signal.traces), ("/v1/logs", .logs), ("/v1/metrics", .metrics)] {
            router.post(RouterPath(path)) { request, context in await self.export(signal, request, context: context) }
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ in
                    Response(status: .methodNotAllowed, headers: [.allow: "POST"])
                }
            }
        }
    }

    func export(_ signal: OTLPResponse.Signal, _ request: Request, context: PyFlareRequestContext) async -> Response {
        let response: Response
        do throws(OTLPHTTPError) {
            let export: OTLPExport
            switch exports.export(for: AccessRequest(request, clientAddress: context.clientAddress)) {
            case .success(let found): export = found
            case .failure(let denial):
                var error = OTLPHTTPError(denial.httpStatus, format: OTLPFormat(contentType: request.headers[.contentType]) ?? .json,
                                          grpcCode: denial.grpcCode, denial.message, retryAfterSeconds: denial.retryAfterSeconds)
                error.challenges = denial.kind == .unauthenticated
                throw error
            }
            let (format, body) = try await readBody(request)
            response = try await self.export(signal, body, format: format, into: export)
        } catch {
            if error.status == .badRequest {
                logger.debug("rejected OTLP request", metadata: ["reason": "\(error.message)"])
            }
            response = error.response
        }
        metrics.recordRequest(signal: "\(signal)", status: Int(response.status.code))
        return response
    }

    private func export(_ signal: OTLPResponse.Signal, _ body: [UInt8], format: OTLPFormat,
                        into export: OTLPExport) async throws(OTLPHTTPError) -> Response {
        let outcome = await export.export(signal, body: body, json: format == .json)
        let status: HTTPResponse.Status, grpcCode: Int
        switch outcome {
        case .accepted(let rejected, let message):
            let bytes = format == .protobuf
                ? OTLPResponse.exportProtobuf(rejected: rejected, message: message)
                : OTLPResponse.exportJSON(signal: signal, rejected: rejected, message: message)
            return Response(status: .ok, headers: [.contentType: format.contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .malformed: (status, grpcCode) = (.badRequest, 3)
        case .full: (status, grpcCode) = (.tooManyRequests, 8)
        case .closed, .failed: (status, grpcCode) = (.serviceUnavailable, 14)
        }
        throw OTLPHTTPError(status, format: format, grpcCode: grpcCode, outcome.errorMessage ?? "",
                            retryAfterSeconds: OTLPExport.retryAfterSeconds(outcome))
    }

    /// Checks content type and encoding, then reads and decompresses the body within the limit.
    private func readBody(_ request: Request) async throws(OTLPHTTPError) -> (OTLPFormat, [UInt8]) {
        guard let format = OTLPFormat(contentType: request.headers[.contentType]) else {
            throw OTLPHTTPError(.unsupportedMediaType, format: .json, grpcCode: 3,
                                "unsupported Content-Type \"\(request.headers[.contentType] ?? "")\"; use application/x-protobuf or application/json")
        }
        let encoding = (request.headers[.contentEncoding] ?? "identity").trimmingCharacters(in: .whitespaces).lowercased()
        let algorithm: CompressionAlgorithm?
        switch encoding {
        case "", "identity": algorithm = nil
        case "gzip", "x-gzip": algorithm = .gzip()
        case "deflate": algorithm = .zlib()
        default:
            throw OTLPHTTPError(.unsupportedMediaType, format: format, grpcCode: 3,
                                "unsupported Content-Encoding \"\(encoding)\"; use gzip, deflate or identity")
        }
        var buffer: ByteBuffer
        do {
            switch try await RequestBodyReader.read(request, limit: maxBodyBytes) {
            case .body(let body): buffer = body
            case .tooLarge(let mustClose):
                var error = tooLarge(format)
                error.closesConnection = mustClose
                throw error
            }
        } catch let error as OTLPHTTPError {
            throw error
        } catch {
            throw OTLPHTTPError(.badRequest, format: format, grpcCode: 3, "could not read the request body")
        }
        metrics.bytesReceived.increment(by: buffer.readableBytes)
        if let algorithm {
            do {
                // One byte over the limit tells "exactly at the limit" from "over it".
                buffer = try buffer.decompress(with: algorithm, maxSize: maxBodyBytes + 1)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw tooLarge(format)
            } catch {
                throw OTLPHTTPError(.badRequest, format: format, grpcCode: 3, "body is not valid \(encoding) data")
            }
            guard buffer.readableBytes <= maxBodyBytes else { throw tooLarge(format) }
        }
        metrics.bytesDecoded.increment(by: buffer.readableBytes)
        return (format, buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    private func tooLarge(_ format: OTLPFormat) -> OTLPHTTPError {
        OTLPHTTPError(.contentTooLarge, format: format, grpcCode: 8,
                      "request body exceeds \(maxBodyBytes) bytes (after decompression)")
    }
}

/// The two OTLP/HTTP payload encodings.
enum OTLPFormat: Sendable {
    case protobuf, json

    init?(contentType: String?) {
        guard let contentType else { return nil }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        switch mediaType {
        case "application/x-protobuf", "application/protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }

    var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }
    var name: String { self == .protobuf ? "protobuf" : "JSON" }
}

/// A failed OTLP/HTTP request, answered with a `google.rpc.Status` in the request's encoding.
struct OTLPHTTPError: Error {
    var status: HTTPResponse.Status
    var format: OTLPFormat
    var grpcCode: Int
    var message: String
    var retryAfterSeconds: Int?
    /// The request's body was left partly unread: the connection closes after the answer.
    var closesConnection = false
    /// A 401: the answer says how to authenticate (`WWW-Authenticate: Bearer`).
    var challenges = false

    init(_ status: HTTPResponse.Status, format: OTLPFormat, grpcCode: Int, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.format = format
        self.grpcCode = grpcCode
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    var response: Response {
        var headers: HTTPFields = [.contentType: format.contentType]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if challenges { headers[.wwwAuthenticate] = "Bearer" }
        let bytes = format == .protobuf
            ? OTLPResponse.statusProtobuf(code: grpcCode, message: message)
            : OTLPResponse.statusJSON(code: grpcCode, message: message)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
            .closingConnection(closesConnection)
    }
}
