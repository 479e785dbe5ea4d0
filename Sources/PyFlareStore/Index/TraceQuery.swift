import Foundation
import GRDB
import PyFlareModel
import PyFlareWire

/// Filters and paging of `GET /api/v1/traces`.
public struct TraceQuery: Sendable, Equatable {
    public enum Status: String, Sendable { case error, ok }

    /// Where the previous page ended: its last trace's start and id.
    public struct Cursor: Sendable, Equatable {
        public var startTime: UInt64
        public var traceID: TraceID

        public init(startTime: UInt64, traceID: TraceID) {
            self.startTime = startTime
            self.traceID = traceID
        }

        /// Opaque text: `<start ns>-<trace id hex>`, base64url.
        public var token: String { CursorToken.encode(["\(startTime)", Hex.string(traceID)]) }

        public init?(token: String) {
            guard let parts = CursorToken.decode(token), parts.count == 2, let start = UInt64(parts[0]),
                  let id = Hex.parseTraceID(String(parts[1])) else { return nil }
            self.init(startTime: start, traceID: id)
        }
    }

    public var service: String?
    public var model: String?
    public var user: String?
    public var session: String?
    public var feature: String?
    public var environment: String?
    public var status: Status?
    public var since: UInt64?
    public var until: UInt64?
    public var minDurationNanoseconds: Int64?
    /// Traces that cost at least this much (unpriced traces never do).
    public var minCostMicros: Int64?
    public var limit: Int = 50
    public var cursor: Cursor?

    public init() {}

    /// Whether a trace's summary passes every filter but the cursor, as the index applies them.
    public func matchesFilters(_ row: TraceSummaryRow) -> Bool {
        if let service, !row.services.contains(service) { return false }
        if let model, !row.models.contains(model) { return false }
        if let user, row.user != user { return false }
        if let session, row.session != session { return false }
        if let feature, row.feature != feature { return false }
        if let environment, row.environment != environment { return false }
        if let minCostMicros, (row.costMicros ?? .min) < minCostMicros { return false }
        switch status {
        case .error: if row.errorCount == 0 { return false }
        case .ok: if row.errorCount > 0 { return false }
        case nil: break
        }
        if let since, row.startTime < since { return false }
        if let until, row.startTime >= until { return false }
        if let minDurationNanoseconds, Int64(bitPattern: row.endTime &- row.startTime) < minDurationNanoseconds { return false }
        return true
    }

    /// Whether a trace comes after the cursor, on a later page.
    public func isPastCursor(_ row: TraceSummaryRow) -> Bool {
        guard let cursor else { return true }
        return (row.startTime, row.traceID) < (cursor.startTime, cursor.traceID)
    }
}

/// One row of `traces`, as the API shows it.
public struct TraceSummaryRow: Sendable, Equatable {
    public var traceID: TraceID
    public var rootService: String?
    public var rootName: String?
    public var startTime: UInt64
    public var endTime: UInt64
    public var spanCount: Int
    public var errorCount: Int
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var totalTokens: Int64
    public var costMicros: Int64?
    public var unpricedCount: Int
    public var services: [String]
    public var models: [String]
    public var user: String?
    public var session: String?
    public var feature: String?
    public var environment: String?

    init(row: Row) {
        let id: Data = row["trace_id"]
        traceID = TraceID(bytes: Array(id))
        rootService = row["root_service"]
        rootName = row["root_name"]
        startTime = UInt64(bitPattern: row["start_ns"])
        endTime = UInt64(bitPattern: row["end_ns"])
        spanCount = row["span_count"]
        errorCount = row["error_count"]
        inputTokens = Self.int64(row, "input_tokens") ?? 0
        outputTokens = Self.int64(row, "output_tokens") ?? 0
        totalTokens = Self.int64(row, "total_tokens") ?? 0
        costMicros = Self.int64(row, "cost_micros")
        unpricedCount = row["unpriced_count"]
        services = IndexDatabase.splitSet(row["services"])
        models = IndexDatabase.splitSet(row["models"])
        user = row["user_id"]
        session = row["session_id"]
        feature = row["feature"]
        environment = row["environment"]
    }

    /// SQLite turns an integer sum that overflows into a REAL: read it back held at the bounds.
    static func int64(_ row: Row, _ column: String) -> Int64? {
        let value: DatabaseValue = row[column]
        switch value.storage {
        case .int64(let number): return number
        case .double(let number): return Int64(saturating: number)
        default: return nil
        }
    }
}

extension TraceID {
    /// From 16 bytes in wire order; other lengths give zero.
    public init(bytes: [UInt8]) {
        guard bytes.count == 16 else {
            self = .zero
            return
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(bytes[index])
            low = low << 8 | UInt64(bytes[index + 8])
        }
        self.init(high: high, low: low)
    }
}
