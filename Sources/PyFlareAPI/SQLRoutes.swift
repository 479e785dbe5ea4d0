import Foundation
public import Hummingbird
import NIOCore
import PyFlareIngest
import PyFlareWire
public import PyFlareStore
public import PyFlareSQL

/// `POST /api/v1/sql`: `{"sql": "…", "params": […], "limit": n}` →
/// `{"columns", "rows", "row_count", "elapsed_ms", "truncated", "scan"}` (`docs/sql.md`).
public struct SQLRoutes: Sendable {
    let engine: SQLEngine
    static let maxBodyBytes = 1 << 20

    public init(engine: SQLEngine) {
        self.engine = engine
    }

    public func routes() -> APIRouteCollection<APIRequestContext> {
        let routes = APIRouteCollection(context: APIRequestContext.self)
        routes.api("/api/v1/sql", method: .post) { request, context in try await run(request, clientGone: context.channel.clientGone) }
        return routes
    }

    /// Runs the statement of `request`; it is stopped when `clientGone` completes first (the
    /// client closed its connection), so a statement nobody waits for frees its thread.
    func run(_ request: Request, clientGone: EventLoopFuture<Void>) async throws -> Response {
        let fields = JSONFields(try await JSONBody.read(request, maxBytes: Self.maxBodyBytes))
        let sql = try fields.requiredString("sql")
        let parameters = try Self.parameters(fields.value("params"))
        var limit: Int?
        if let number = try fields.number("limit") {
            guard number >= 1, number == number.rounded(), number <= Double(engine.limits.maxRows) else {
                throw APIError.badRequest("limit must be a whole number from 1 to \(engine.limits.maxRows) (sql.max_rows)")
            }
            limit = Int(number)
        }
        let result: SQLResult
        let engine = self.engine
        let statement = Task { try await engine.run(sql, parameters: parameters, limit: limit) }
        clientGone.whenSuccess { statement.cancel() }
        do {
            result = try await withTaskCancellationHandler { try await statement.value } onCancel: { statement.cancel() }
        } catch let error as SQLError {
            throw Self.apiError(error)
        }
        var json = JSONWriter(capacity: 64 + 32 * result.rows.count * max(1, result.columns.count))
        result.write(to: &json)
        return .json(json)
    }

    /// `params` as SQL values: null, booleans (0 or 1), numbers and strings.
    static func parameters(_ value: JSONValue?) throws(APIError) -> [SQLValue] {
        guard let value else { return [] }
        guard case .array(let elements) = value else { throw .badRequest("params must be an array, not \(value.kindDescription)") }
        return try elements.enumerated().map { (index, element) throws(APIError) -> SQLValue in
            switch element {
            case .null: return .null
            case .bool(let flag): return .integer(flag ? 1 : 0)
            case .int(let integer): return .integer(integer)
            case .double(let real): return .real(real)
            case .string(let text): return .text(text)
            case .array, .object: throw .badRequest("params[\(index)] must be null, a boolean, a number or a string, not \(element.kindDescription)")
            }
        }
    }

    /// A failed statement: SQLite's message, and where in the text it points.
    static func apiError(_ error: SQLError) -> APIError {
        let (status, code): (HTTPResponse.Status, String) = switch error.kind {
        case .invalid: (.badRequest, "invalid_sql")
        case .forbidden: (.forbidden, "read_only")
        case .timeout: (.unprocessableContent, "timeout")
        case .tooManyRows: (.unprocessableContent, "row_limit")
        case .unavailable: (.serviceUnavailable, "unavailable")
        case .busy: (.tooManyRequests, "busy")
        case .cancelled: (.serviceUnavailable, "cancelled")
        }
        var apiError = APIError(status, code: code, error.message)
        apiError.position = error.offset
        if error.kind == .busy || error.kind == .cancelled { apiError.retryAfterSeconds = 1 }
        return apiError
    }
}
