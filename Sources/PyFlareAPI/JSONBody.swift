import Foundation
import Hummingbird
import NIOCore
import PyFlareIngest
import PyFlareWire

/// The JSON body of an API request (telemetry, SQL): checked for size, content type and syntax.
enum JSONBody {
    /// Reads `request`'s body as one JSON object, within `maxBytes`.
    ///
    /// - Parameter allowEmpty: an empty body (of any content type) reads as `{}`, for routes
    ///   whose fields are all optional (`finish`).
    /// - Throws: 413 over the limit, 415 for a content type other than `application/json`,
    ///   400 for malformed JSON or a top level that is not an object.
    static func read(_ request: Request, maxBytes: Int, allowEmpty: Bool = false) async throws(APIError) -> JSONValue {
        let buffer: ByteBuffer
        do {
            switch try await RequestBodyReader.read(request, limit: maxBytes) {
            case .body(let body): buffer = body
            case .tooLarge(let mustClose):
                var error = tooLarge(maxBytes)
                error.closesConnection = mustClose
                throw error
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw .badRequest("could not read the request body")
        }
        if buffer.readableBytes == 0, allowEmpty { return .object([]) }
        try checkContentType(request.headers[.contentType])
        return try parse(Array(buffer.readableBytesView))
    }

    /// 415 unless `contentType` is `application/json` (parameters such as `charset` allowed).
    static func checkContentType(_ contentType: String?) throws(APIError) {
        guard isJSON(contentType) else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           "Content-Type must be application/json, not \"\(contentType ?? "")\"")
        }
    }

    /// Whether `contentType` names `application/json` (parameters such as `charset` allowed).
    static func isJSON(_ contentType: String?) -> Bool {
        contentType?.split(separator: ";", maxSplits: 1).first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() == "application/json" } ?? false
    }

    /// `bytes` as a JSON object; 400 naming the problem and its byte offset otherwise.
    static func parse(_ bytes: [UInt8]) throws(APIError) -> JSONValue {
        guard !bytes.isEmpty else { throw .badRequest("the request body is empty; expected a JSON object") }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw .badRequest("the body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw .badRequest("the body must be a JSON object, not \(value.kindDescription)") }
        return value
    }

    private static func tooLarge(_ maxBytes: Int) -> APIError {
        APIError(.contentTooLarge, code: "payload_too_large", "the request body exceeds \(maxBytes) bytes")
    }
}
