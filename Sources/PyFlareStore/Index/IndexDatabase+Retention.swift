import Foundation
import GRDB
import PyFlareWire

/// A segment as the catalog describes it: what compaction plans with.
public struct CatalogSegment: Sendable, Equatable {
    public var id: Int64
    /// Relative to the data directory.
    public var path: String
    public var kind: SegmentKind
    public var rows: Int
    public var bytesRaw: Int
    public var bytesOnDisk: Int
    public var minTime: Int64
    public var maxTime: Int64
    public var services: [String]
    public var sealID: Int64
    /// When its first row expires, once a compaction has read it.
    public var expires: Int64?
    /// Its object's key when the segment is in the bucket rather than on local disk.
    public var remoteKey: String? = nil
}

/// A segment file whose index rows are gone and whose file is still on disk.
struct PendingDeletion: Sendable {
    var path: String
    var bytes: Int
    var committed: Int64
    /// The object of a remote segment, deleted with it.
    var remoteKey: String?
}

extension SegmentKind {
    /// The `store_state` key of the time before which records of this kind may have been
    /// deleted by retention: jobs never recompute windows before it.
    var retentionFloorKey: String { "retention_floor_\(name)" }
}

extension IndexDatabase {
    /// Active segments, oldest first.
    func catalog() async throws(StoreError) -> [CatalogSegment] {
        try await read("reading the segment catalog") { db in
            try Row.fetchAll(db, sql: """
                SELECT id, path, kind, rows, bytes_raw, bytes_on_disk, min_time_ns, max_time_ns, services, seal_id, expires_ns, remote_key
                FROM segments WHERE state = \(SegmentState.active.sqlLiteral) ORDER BY min_time_ns, id
                """).compactMap { row in
                guard let kind = SegmentKind.allCases.first(where: { $0.name == row["kind"] as String }) else { return nil }
                let services: [String] = (try? JSONValue.parse(Array((row["services"] as String).utf8)))
                    .flatMap { if case .array(let items) = $0 { items.compactMap(\.text) } else { nil } } ?? []
                return CatalogSegment(id: row["id"], path: row["path"], kind: kind, rows: row["rows"], bytesRaw: row["bytes_raw"],
                                      bytesOnDisk: row["bytes_on_disk"], minTime: row["min_time_ns"], maxTime: row["max_time_ns"],
                                      services: services, sealID: row["seal_id"] ?? row["id"], expires: row["expires_ns"],
                                      remoteKey: row["remote_key"])
            }
        }
    }

    /// Replaces `inputs` by `outputs` in one transaction: the outputs' catalog and trace index
    /// rows go in, the inputs' go out and their files are listed for deletion. Trace summaries
    /// and metric names are kept (the outputs hold the same records), except that with
    /// `dropped` records a trace none of whose records remain loses its summary, and each
    /// metric loses the points dropped of it. `floor` raises the kind's retention floor (the
    /// time before which raw records may be missing, which jobs never recompute).
    /// Throws if an input is no longer active (another compaction took it).
    func swap(_ inputs: [CatalogSegment], for outputs: [(path: String, segment: BuiltSegment, bytesOnDisk: Int, expires: Int64?)],
              dropped: Int, droppedMetricPoints: [String: Int], floor: (kind: SegmentKind, time: Int64)?) async throws(StoreError) {
        let now = UnixTime.nowNanoseconds()
        try await write("replacing segments \(inputs.map(\.path).joined(separator: ", "))") { db in
            let ids = inputs.map(\.id)
            let list = ids.map(String.init).joined(separator: ",")
            let active = try Int.fetchOne(db, sql: "SELECT count(*) FROM segments WHERE state = \(SegmentState.active.sqlLiteral) AND id IN (\(list))") ?? 0
            guard active == ids.count else {
                throw StoreError(.database, "\(ids.count - active) of the segments to replace are no longer active (compacted elsewhere?)", path: "index.db")
            }
            let sealID = inputs.map(\.sealID).max()
            for output in outputs {
                var segment = output.segment
                segment.summaries = []
                segment.metricNames = []
                _ = try Self.insert(segment, path: output.path, bytesOnDisk: output.bytesOnDisk, sealID: sealID, expires: output.expires, into: db)
            }
            if dropped > 0 {
                try db.execute(sql: """
                    DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM trace_index WHERE segment_id IN (\(list)))
                    AND NOT EXISTS (SELECT 1 FROM trace_index t WHERE t.trace_id = traces.trace_id AND t.segment_id NOT IN (\(list)))
                    """)
            }
            for (name, count) in droppedMetricPoints {
                try db.execute(sql: "UPDATE metric_names SET point_count = max(0, point_count - ?) WHERE name = ?", arguments: [count, name])
            }
            if inputs.contains(where: { $0.kind == .metricPoints }), dropped > 0 {
                try db.execute(sql: """
                    DELETE FROM metric_names WHERE NOT EXISTS (
                        SELECT 1 FROM segments s, json_each(s.models) m
                        WHERE s.kind = 'metric_points' AND s.state = \(SegmentState.active.sqlLiteral) AND s.id NOT IN (\(list)) AND m.value = metric_names.name)
                    """)
            }
            let deletion = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO segment_deletions (path, bytes, committed_ns, remote_key)
                SELECT path, bytes_on_disk, ?, remote_key FROM segments WHERE id = ?
                """)
            for input in inputs { try deletion.execute(arguments: [now, input.id]) }
            try db.execute(sql: "DELETE FROM segments WHERE id IN (\(list))")
            if let floor {
                try db.execute(sql: """
                    INSERT INTO store_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
                    """, arguments: [floor.kind.retentionFloorKey, floor.time])
            }
        }
    }

    /// By kind, the time before which retention may have deleted records.
    func retentionFloors() async throws(StoreError) -> [SegmentKind: Int64] {
        try await read("reading the retention floors") { db in
            try Dictionary(uniqueKeysWithValues: SegmentKind.allCases.compactMap { kind in
                try StoreCatalog.retentionFloor(of: kind, db).map { (kind, $0) }
            })
        }
    }

    /// Records when a segment's first row expires, found by a compaction that left it as it is.
    func setExpiry(_ expires: Int64?, segment id: Int64) async throws(StoreError) {
        try await write("recording the expiry of segment \(id)") { db in
            try db.execute(sql: "UPDATE segments SET expires_ns = ? WHERE id = ?", arguments: [expires, id])
        }
    }

    /// Forgets every segment's expiry when the policy it was computed under changed.
    func resetExpiries(policyHash: Int64) async throws(StoreError) {
        try await write("resetting segment expiries") { db in
            let current = try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = 'retention_policy_hash'")
            guard current != policyHash else { return }
            try db.execute(sql: "UPDATE segments SET expires_ns = NULL WHERE expires_ns IS NOT NULL")
            try db.execute(sql: "INSERT OR REPLACE INTO store_state (key, value) VALUES ('retention_policy_hash', ?)", arguments: [policyHash])
        }
    }

    func pendingDeletions() async throws(StoreError) -> [PendingDeletion] {
        try await read("listing segment files to delete") { db in
            try Row.fetchAll(db, sql: "SELECT path, bytes, committed_ns, remote_key FROM segment_deletions ORDER BY committed_ns").map {
                PendingDeletion(path: $0["path"], bytes: $0["bytes"], committed: $0["committed_ns"], remoteKey: $0["remote_key"])
            }
        }
    }

    func forgetDeletions(_ paths: [String]) async throws(StoreError) {
        guard !paths.isEmpty else { return }
        try await write("forgetting deleted segment files") { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM segment_deletions WHERE path = ?")
            for path in paths { try statement.execute(arguments: [path]) }
        }
    }

    /// Bytes of `index.db` and its WAL on disk.
    var bytesOnDisk: Int {
        [path, path + "-wal"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
        }
    }

    /// Gives free pages back to the file system: `PRAGMA incremental_vacuum`, then a checkpoint
    /// that truncates the WAL. A database created before auto_vacuum was set (auto_vacuum =
    /// NONE) is converted by one full `VACUUM` once a quarter of its pages are free.
    /// Returns the bytes the index shrank by.
    func vacuum() async throws(StoreError) -> Int {
        let before = bytesOnDisk
        do {
            try await pool.writeWithoutTransaction { db in
                let mode = try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? 0
                let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
                if mode == 2 {
                    if free > 0 { try db.execute(sql: "PRAGMA incremental_vacuum") }
                } else if free * 4 >= pages, free > 256 {
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
            // Readers may hold the WAL; then the next run truncates it.
            _ = try? await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        } catch {
            throw StoreError(.database, "vacuuming the index: \(error)", path: path)
        }
        return max(0, before - bytesOnDisk)
    }
}
