import GRDB

extension IndexDatabase {
    /// Records that segment `id` is in the bucket as `key`; false when the segment is no longer
    /// active (a compaction replaced it during the upload), so its object is not wanted.
    func markRemote(segment id: Int64, key: String) async throws(StoreError) -> Bool {
        try await write("recording segment \(id) in the bucket") { db in
            try db.execute(sql: "UPDATE segments SET remote_key = ? WHERE id = ? AND state = \(SegmentState.active.sqlLiteral) AND remote_key IS NULL",
                           arguments: [key, id])
            return db.changesCount == 1
        }
    }
}
