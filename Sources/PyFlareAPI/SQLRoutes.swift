import Foundation
public import Hummingbird
import PyFlareWire
public import PyFlareStore

/// `POST /api/v1/sql`: `{"sql": "…", "params": […], "limit": n}` →
/// `{"columns", "rows", "row_count", "elapsed_ms", "truncated", "scan"}` (`docs/sql.md`).
public struct SQLRoutes: Sendable {
    let engine: SQLEngine
    static let maxBodyBytes = 1 << 20

    public init(engine: SQLEngine) {
        self.engine = engine
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.api("/api/v1/sql", method: .post) { request, _ in try await run(request) }
    }

    public static func addUnavailableRoutes<Context: RequestContext>(to router: Router<Context>, reason: String) {
        router.api("/api/v1/sql", method: .post) { _, _ in throw APIError(.serviceUnavailable, code: "unavailable", reason) }
    }

    func run(_ request: Request) async throws -> Response {
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
        do {
            result = try await engine.run(sql, parameters: parameters, limit: limit)
        } catch {
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
        }
        var apiError = APIError(status, code: code, error.message)
        apiError.position = error.offset
        return apiError
    }
}
