import Foundation
import PyFlareWire

/// Filters and paging of `GET /api/v1/logs`; records come newest first.
public struct LogQuery: Sendable, Equatable {
    /// Where the previous page ended: its last record's time and content key, and how many
    /// records with exactly that time and key were shown (identical records are stored twice
    /// when they were sent twice, and each is listed).
    public struct Cursor: Sendable, Equatable {
        public var time: UInt64
        public var key: UInt64
        public var duplicates: Int

        public init(time: UInt64, key: UInt64, duplicates: Int = 1) {
            self.time = time
            self.key = key
            self.duplicates = duplicates
        }

        /// Opaque text: `<time ns>-<key hex>-<duplicates>`, base64url.
        public var token: String { CursorToken.encode(["\(time)", String(key, radix: 16), "\(duplicates)"]) }

        public init?(token: String) {
            guard let parts = CursorToken.decode(token), parts.count == 3, let time = UInt64(parts[0]),
                  let key = UInt64(parts[1], radix: 16), let duplicates = Int(parts[2]), duplicates >= 1 else { return nil }
            self.init(time: time, key: key, duplicates: duplicates)
        }
    }

    public var service: String?
    /// Lowest OTLP severity number kept (9 = INFO, 13 = WARN, 17 = ERROR).
    public var minSeverity: UInt8?
    public var traceID: TraceID?
    public var since: UInt64?
    public var until: UInt64?
    /// Substring of a string body (case-sensitive, byte for byte).
    public var text: String?
    public var limit = 100
    public var cursor: Cursor?

    public init() {}

    /// A record's time for filters and order: its event time, else when it was observed.
    package static func time(of batch: LogBatch, _ row: Int) -> UInt64 {
        batch.times[row] != 0 ? batch.times[row] : batch.observedTimes[row]
    }

    /// Orders records with the same time, and pages through them, by content alone, so the
    /// order does not change when a record moves from memory into a segment.
    static func key(of batch: LogBatch, _ row: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            withUnsafeBytes(of: value.littleEndian) { for byte in $0 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 } }
        }
        mix(batch.observedTimes[row])
        mix(batch.traceIDs[row].high)
        mix(batch.traceIDs[row].low)
        mix(batch.spanIDs[row])
        mix(UInt64(batch.severityNumbers[row]))
        mix(batch.bodies.payloads[row])
        if batch.bodies.kinds[row] == .string {
            batch.withBytes(StringRef(packed: batch.bodies.payloads[row])) { for byte in $0 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 } }
        }
        return hash
    }

    /// Whether row `row` of `batch` passes every filter but the cursor.
    func matches(_ batch: LogBatch, _ row: Int, services: [String?]) -> Bool {
        let time = Self.time(of: batch, row)
        if let since, time < since { return false }
        if let until, time >= until { return false }
        if let minSeverity, batch.severityNumbers[row] < minSeverity { return false }
        if let traceID, batch.traceIDs[row] != traceID { return false }
        if let service {
            let resource = Int(batch.scopes.resourceIndices[Int(batch.scopeIndices[row])])
            guard services[resource] == service else { return false }
        }
        if let text, !text.isEmpty {
            guard batch.bodies.kinds[row] == .string else { return false }
            let needle = Array(text.utf8)
            let found = batch.withBytes(StringRef(packed: batch.bodies.payloads[row])) { body in
                body.count >= needle.count && (0...(body.count - needle.count)).contains { start in
                    needle.indices.allSatisfy { body[start + $0] == needle[$0] }
                }
            }
            guard found else { return false }
        }
        return true
    }
}

/// One page of log records: the batches they live in and, newest first, where each is.
public struct LogPage: Sendable {
    public var batches: [LogBatch] = []
    public var records: [(batch: Int, row: Int)] = []
    public var nextCursor: LogQuery.Cursor?
    /// Blocks that could not be read, named with file, block and column.
    public var warnings: [String] = []

    public init() {}
}
