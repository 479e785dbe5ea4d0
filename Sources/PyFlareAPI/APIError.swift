public import Hummingbird
import NIOCore
import PyFlareIngest
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
    /// The request's body was left partly unread: the connection closes after the answer.
    public var closesConnection = false

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
        json.member("message", message)
        if let field {
            json.member("field", field)
        }
        if let position {
            json.member("position", position)
        }
        json.raw("}}")
        var response = Response.json(json, status: status)
        if let retryAfterSeconds { response.headers[.retryAfter] = String(retryAfterSeconds) }
        return response.closingConnection(closesConnection)
    }
}

/// Thrown past ``APIRouteCollection/api(_:method:_:)`` (from a middleware, say), an `APIError` still
/// answers in its own shape.
extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }
}

extension Response {
    static func json(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}
