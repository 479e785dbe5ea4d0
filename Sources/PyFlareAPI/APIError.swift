public import Hummingbird
import NIOCore
import PyFlareWire

/// An API failure: `{"error": {"code", "message"}}` with its HTTP status.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code: `bad_request`, `not_found`, `internal`.
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }

    public var response: Response {
        var json = JSONWriter()
        json.raw(#"{"error":{"code":"#)
        json.string(code)
        json.raw(#","message":"#)
        json.string(message)
        json.raw("}}")
        return .json(json, status: status)
    }
}

extension Response {
    static func json(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}

extension Router {
    /// A GET route whose handler throws ``APIError``; any other error becomes a 500 with its text.
    func api(_ path: RouterPath, _ handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        get(path) { request, context in
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
