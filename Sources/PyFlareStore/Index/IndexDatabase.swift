import Foundation
import GRDB
import PyFlareMigrations
import PyFlareWire

/// `index.db`: the segment catalog, the trace index and trace summaries, in SQLite WAL
/// mode behind a GRDB pool (one writer, several readers that never block it).
///
/// GRDB runs every access on its own dispatch queues, never on a NIO event loop.
final class IndexDatabase: Sendable {
    let path: String
    let pool: DatabasePool

    init(path: String) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 4
        configuration.prepareDatabase { db in
            db.add(function: Self.mergeSet)
            // A WAL that grew while readers kept checkpoints from finishing (a long statement
            // over millions of spans) is cut back to this when it next starts over, instead of
            // keeping its largest size on disk for good.
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimit)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in
                // Free pages go back to the file system as retention deletes (docs/retention.md). In WAL
                // mode the setting takes only through a VACUUM, instant on a new database; the retention
                // job converts older ones once.
                if try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 {
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
            try pool.write { db in try Self.migrate(db) }
        } catch {
            throw StoreError(.database, "cannot open the index: \(error)", path: path)
        }
    }

    /// What `index.db-wal` is truncated to when it restarts.
    static let walSizeLimit = 64 << 20

    /// Applies the migrations not yet recorded in `schema_migrations`, each in the write transaction.
    static func migrate(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at_ns INTEGER NOT NULL) WITHOUT ROWID")
        let applied = Set(try String.fetchAll(db, sql: "SELECT name FROM schema_migrations"))
        for migration in IndexMigration.all where !applied.contains(migration.name) {
            try db.execute(sql: migration.sql)
            try db.execute(sql: "INSERT INTO schema_migrations (name, applied_at_ns) VALUES (?, ?)",
                           arguments: [migration.name, UnixTime.nowNanoseconds()])
        }
    }

    /// Separates the members of a set stored as text (`traces.services`, `traces.models`):
    /// the ASCII unit separator, which names do not contain, unlike commas.
    static let setSeparator: Character = "\u{1F}"

    static func joinSet(_ values: some Sequence<String>) -> String {
        values.sorted().joined(separator: String(setSeparator))
    }

    static func splitSet(_ text: String) -> [String] {
        text.split(separator: setSeparator).map(String.init)
    }

    /// `pyflare_merge_set(a, b)`: the sorted union of two sets stored as text.
    static let mergeSet = DatabaseFunction("pyflare_merge_set", argumentCount: 2, pure: true) { values in
        joinSet(Set(values.flatMap { splitSet(String.fromDatabaseValue($0) ?? "") }))
    }

    func write<T: Sendable>(_ what: String, _ body: @Sendable @escaping (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw StoreError(.database, "\(what): \(error)", path: path)
        }
    }

    func read<T: Sendable>(_ what: String, _ body: @Sendable @escaping (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw StoreError(.database, "\(what): \(error)", path: path)
        }
    }

    // MARK: - Store state

    /// The highest WAL sequence whose record is in a sealed, indexed segment.
    func sealedSequence() async throws(StoreError) -> UInt64 {
        try await read("reading the sealed WAL position") { db in
            try StoreCatalog.sealedWALSequence(db)
        }
    }

    /// The highest consumed offset per Kafka partition whose records are sealed.
    func sealedSourceOffsets() async throws(StoreError) -> [SourceOffset] {
        try await read("reading the Kafka positions") { db in
            try Row.fetchAll(db, sql: #"SELECT topic, partition, "offset" FROM source_offsets ORDER BY topic, partition"#).map {
                SourceOffset(topic: $0["topic"], partition: $0["partition"], offset: $0["offset"])
            }
        }
    }

    // MARK: - Segments

    struct SegmentRow: Sendable {
        var id: Int64
        var path: String
        var state: SegmentState
        /// Set when the segment is in the bucket (its local file is then removed).
        var remoteKey: String?
    }

    func segments() async throws(StoreError) -> [SegmentRow] {
        try await read("listing segments") { db in
            try Row.fetchAll(db, sql: "SELECT id, path, state, remote_key FROM segments ORDER BY id").map {
                SegmentRow(id: $0["id"], path: $0["path"], state: SegmentState(catalogValue: $0["state"]), remoteKey: $0["remote_key"])
            }
        }
    }

    func setState(_ state: SegmentState, segment id: Int64) async throws(StoreError) {
        try await write("marking segment \(id) \(state.rawValue)") { db in
            try db.execute(sql: "UPDATE segments SET state = ? WHERE id = ?", arguments: [state.rawValue, id])
        }
    }

    /// Records one durable segment file; see ``recordSegments(_:)``.
    @discardableResult
    func recordSegment(path relativePath: String, segment: BuiltSegment, bytesOnDisk: Int) async throws(StoreError) -> Int64 {
        try await recordSegments([(relativePath, segment, bytesOnDisk)]).first!
    }

    /// Records the durable segment files of one seal — their catalog rows, trace index rows,
    /// trace summaries and metric names — in one transaction, and advances the sealed WAL
    /// position to their last record and the Kafka positions to `sourceOffsets` (where the
    /// sealed records were consumed from). Returns the segments' ids.
    @discardableResult
    func recordSegments(_ segments: [(path: String, segment: BuiltSegment, bytesOnDisk: Int)],
                        sourceOffsets: [SourceOffset] = []) async throws(StoreError) -> [Int64] {
        try await write("recording segments \(segments.map(\.path).joined(separator: ", "))") { db in
            var ids: [Int64] = []
            for (relativePath, segment, bytesOnDisk) in segments {
                ids.append(try Self.insert(segment, path: relativePath, bytesOnDisk: bytesOnDisk, into: db))
            }
            for item in SourceOffset.latest(sourceOffsets) {
                try db.execute(sql: """
                    INSERT INTO source_offsets (topic, partition, "offset") VALUES (?, ?, ?)
                    ON CONFLICT(topic, partition) DO UPDATE SET "offset" = max("offset", excluded."offset")
                    """, arguments: [item.topic, item.partition, item.offset])
            }
            if let last = segments.map(\.segment.footer.lastWALSequence).max(), last > 0 {
                try db.execute(sql: """
                    INSERT INTO store_state (key, value) VALUES ('sealed_wal_sequence', ?)
                    ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)
                    """, arguments: [Int64(bitPattern: last)])
            }
            return ids
        }
    }

    /// Inserts a segment's catalog row, trace index rows, trace summaries and metric names.
    /// `sealID` is nil for a seal (the segment's own id), the inputs' newest for a compaction.
    static func insert(_ segment: BuiltSegment, path relativePath: String, bytesOnDisk: Int, sealID: Int64? = nil,
                       expires: Int64? = nil, into db: Database) throws -> Int64 {
        let footer = segment.footer
        try db.execute(sql: """
            INSERT INTO segments (path, kind, format_version, rows, blocks, bytes_raw, bytes_on_disk, min_time_ns, max_time_ns,
                                  services, models, first_wal_lsn, last_wal_lsn, state, created_at_ns, expires_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \(SegmentState.active.sqlLiteral), ?, ?)
            """, arguments: [
                relativePath, segment.kind.name, Int(SegmentFooter.formatVersion), footer.rows, footer.blocks.count, footer.rawBytes,
                bytesOnDisk, Int64(bitPattern: footer.minStartTime), Int64(bitPattern: footer.maxStartTime),
                jsonArray(footer.services), jsonArray(footer.models),
                Int64(bitPattern: footer.firstWALSequence), Int64(bitPattern: footer.lastWALSequence), UnixTime.nowNanoseconds(), expires,
            ])
        let segmentID = db.lastInsertedRowID
        try db.execute(sql: "UPDATE segments SET seal_id = ? WHERE id = ?", arguments: [sealID ?? segmentID, segmentID])
        let insertTrace = try db.cachedStatement(sql: "INSERT OR IGNORE INTO trace_index (trace_id, segment_id, block) VALUES (?, ?, ?)")
        for (traceID, blocks) in segment.traceBlocks {
            let id = Data(traceID.bytes)
            for block in blocks { try insertTrace.execute(arguments: [id, segmentID, block]) }
        }
        let upsert = try db.cachedStatement(sql: upsertSummarySQL)
        for summary in segment.summaries {
            try upsert.execute(arguments: [
                Data(summary.traceID.bytes), summary.rootService, summary.rootName,
                Int64(bitPattern: summary.startTime), Int64(bitPattern: summary.endTime),
                summary.spanCount, summary.errorCount, summary.inputTokens, summary.outputTokens, summary.totalTokens,
                summary.costMicros, summary.unpricedCount,
                joinSet(summary.services), joinSet(summary.models),
                summary.user, summary.session, summary.feature, summary.environment,
            ])
        }
        let upsertMetric = try db.cachedStatement(sql: upsertMetricNameSQL)
        for metric in segment.metricNames {
            try upsertMetric.execute(arguments: [
                metric.name, metric.type.name, metric.unit, metric.description,
                MetricBatch.temporalityName(metric.temporality), metric.monotonic,
                metric.pointCount, Int64(bitPattern: metric.firstTime), Int64(bitPattern: metric.lastTime), joinSet(metric.services),
            ])
        }
        return segmentID
    }

    /// Adds one segment's points of a metric to its catalog row; the latest description wins.
    static let upsertMetricNameSQL = """
        INSERT INTO metric_names (name, type, unit, description, temporality, monotonic, point_count,
                                  first_time_ns, last_time_ns, services)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET
            type = excluded.type, unit = excluded.unit, description = excluded.description,
            temporality = excluded.temporality, monotonic = excluded.monotonic,
            point_count = point_count + excluded.point_count,
            first_time_ns = min(first_time_ns, excluded.first_time_ns),
            last_time_ns = max(last_time_ns, excluded.last_time_ns),
            services = pyflare_merge_set(services, excluded.services)
        """

    /// Merges one batch's view of a trace into its summary.
    static let upsertSummarySQL = """
        INSERT INTO traces (trace_id, root_service, root_name, start_ns, end_ns, span_count, error_count,
                            input_tokens, output_tokens, total_tokens, cost_micros, unpriced_count, services, models,
                            user_id, session_id, feature, environment)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (trace_id) DO UPDATE SET
            root_service = CASE WHEN excluded.root_name IS NOT NULL THEN excluded.root_service ELSE root_service END,
            root_name = coalesce(excluded.root_name, root_name),
            start_ns = min(start_ns, excluded.start_ns),
            end_ns = max(end_ns, excluded.end_ns),
            span_count = span_count + excluded.span_count,
            error_count = error_count + excluded.error_count,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            total_tokens = total_tokens + excluded.total_tokens,
            cost_micros = CASE WHEN excluded.cost_micros IS NULL THEN cost_micros
                               ELSE coalesce(cost_micros, 0) + excluded.cost_micros END,
            unpriced_count = unpriced_count + excluded.unpriced_count,
            services = pyflare_merge_set(services, excluded.services),
            models = pyflare_merge_set(models, excluded.models),
            user_id = coalesce(user_id, excluded.user_id),
            session_id = coalesce(session_id, excluded.session_id),
            feature = coalesce(feature, excluded.feature),
            environment = coalesce(environment, excluded.environment)
        """

    static func jsonArray(_ values: [String]) -> String {
        var json = JSONWriter()
        json.strings(values)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    // MARK: - Traces

    /// The segments of `kind` (with their state) and blocks holding records of `traceID`.
    func locations(of traceID: TraceID, kind: SegmentKind = .spans) async throws(StoreError) -> [(path: String, block: Int, state: SegmentState)] {
        try await read("looking up a trace") { db in
            try Row.fetchAll(db, sql: """
                SELECT s.path, t.block, s.state FROM trace_index t JOIN segments s ON s.id = t.segment_id
                WHERE t.trace_id = ? AND s.kind = ? ORDER BY s.id, t.block
                """, arguments: [Data(traceID.bytes), kind.name]).map { ($0["path"], $0["block"], SegmentState(catalogValue: $0["state"])) }
        }
    }

    /// Active segments of `kind` overlapping `since..<until` (and, for metric segments,
    /// naming metric `name`), newest first.
    func segmentPaths(kind: SegmentKind, since: UInt64?, until: UInt64?, containing name: String? = nil) async throws(StoreError) -> [String] {
        try await read("listing \(kind.name) segments") { db in
            // Times are stored as Int64 bit patterns: a bound is only compared when one is asked
            // for, so records stamped past 2262 (negative in SQLite) are still found unbounded.
            var sql = "SELECT path FROM segments WHERE kind = ? AND state = ?"
            var arguments: [(any DatabaseValueConvertible)?] = [kind.name, SegmentState.active.rawValue]
            if let since {
                sql += " AND max_time_ns >= ?"
                arguments.append(Int64(bitPattern: since))
            }
            if let until {
                sql += " AND min_time_ns < ?"
                arguments.append(Int64(bitPattern: until))
            }
            if let name {
                sql += " AND EXISTS (SELECT 1 FROM json_each(segments.models) WHERE value = ?)"
                arguments.append(name)
            }
            return try String.fetchAll(db, sql: sql + " ORDER BY max_time_ns DESC", arguments: StatementArguments(arguments))
        }
    }

    func metricNames() async throws(StoreError) -> [MetricNameRow] {
        try await read("listing metric names") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM metric_names ORDER BY name").map { row in
                MetricNameRow(name: row["name"], type: row["type"], unit: row["unit"], description: row["description"],
                              temporality: row["temporality"], monotonic: row["monotonic"], pointCount: row["point_count"],
                              firstTime: UInt64(bitPattern: row["first_time_ns"]), lastTime: UInt64(bitPattern: row["last_time_ns"]),
                              services: Self.splitSet(row["services"]))
            }
        }
    }

    func summaries(_ query: TraceQuery) async throws(StoreError) -> [TraceSummaryRow] {
        try await read("listing traces") { db in
            var conditions: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            /// `condition` with its `?` bound to `value`, when the query has one.
            func when(_ value: (any DatabaseValueConvertible)?, _ condition: String) {
                guard let value else { return }
                conditions.append(condition)
                arguments.append(value)
            }
            let inSet = { (column: String) in "instr(char(31) || \(column) || char(31), char(31) || ? || char(31)) > 0" }
            when(query.service, inSet("services"))
            when(query.model, inSet("models"))
            when(query.user, "user_id = ?")
            when(query.session, "session_id = ?")
            when(query.feature, "feature = ?")
            when(query.environment, "environment = ?")
            when(query.minCostMicros, "cost_micros >= ?")
            switch query.status {
            case .error: conditions.append("error_count > 0")
            case .ok: conditions.append("error_count = 0")
            case nil: break
            }
            when(query.since.map { Int64(bitPattern: $0) }, "start_ns >= ?")
            when(query.until.map { Int64(bitPattern: $0) }, "start_ns < ?")
            when(query.minDurationNanoseconds, "end_ns - start_ns >= ?")
            if let cursor = query.cursor {
                conditions.append("(start_ns, trace_id) < (?, ?)")
                arguments.append(Int64(bitPattern: cursor.startTime))
                arguments.append(Data(cursor.traceID.bytes))
            }
            let sql = """
                SELECT * FROM traces \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
                ORDER BY start_ns DESC, trace_id DESC LIMIT ?
                """
            arguments.append(query.limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(TraceSummaryRow.init(row:))
        }
    }

    /// The summaries of `traceIDs` (those the index has).
    func summaries(of traceIDs: [TraceID]) async throws(StoreError) -> [TraceSummaryRow] {
        try await read("reading trace summaries") { db in
            var rows: [TraceSummaryRow] = []
            // In slices: SQLite allows a bounded number of parameters a statement.
            for start in stride(from: 0, to: traceIDs.count, by: 500) {
                let slice = traceIDs[start..<min(start + 500, traceIDs.count)]
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                rows += try Row.fetchAll(db, sql: "SELECT * FROM traces WHERE trace_id IN (\(marks))",
                                         arguments: StatementArguments(slice.map { Data($0.bytes) })).map(TraceSummaryRow.init(row:))
            }
            return rows
        }
    }
}
