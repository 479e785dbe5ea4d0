public import Hummingbird
import NIOCore
import PyFlareWire

/// An API failure: `{"error": {"code", "message"}}` with its HTTP status.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code: `bad_request`, `not_found`, `internal`.
    public var code: String
    public var message: String
    /// Sent as `Retry-After` (429, 503): when the client may try again.
    public var retryAfterSeconds: Int?
    /// The request member a validation error is about.
    public var field: String?
    /// Where in the request's SQL text a statement error points (0-based byte offset).
    public var position: Int?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfterSeconds: Int? = nil, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.field = field
    }

    /// A 400 about one member of the request: the message says what it must be.
    public static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "bad_request", "\(field) \(message)", field: field)
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }

    public var response: Response {
        var json = JSONWriter()
        json.raw(#"{"error":{"code":"#)
        json.string(code)
        json.raw(#","message":"#)
        json.string(message)
        if let field {
            json.raw(#","field":"#)
            json.string(field)
        }
        if let position {
            json.raw(#","position":"#)
            json.int(Int64(position))
        }
        json.raw("}}")
        var response = Response.json(json, status: status)
        if let retryAfterSeconds { response.headers[.retryAfter] = String(retryAfterSeconds) }
        return response
    }
}

extension Response {
    static func json(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}

extension Router {
    /// A route (GET unless told) whose handler throws ``APIError``; any other error becomes a 500 with its text.
    func api(_ path: RouterPath, method: HTTPRequest.Method = .get,
             _ handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: method) { request, context in
            do {
                return try await handler(request, context)
            } catch let error as APIError {
                return error.response
            } catch {
                return APIError(.internalServerError, code: "internal", "\(error)").response
            }
        }
    }
}
