import PyFlareWire

/// How compaction sizes its work; the retention policy says what expires.
public struct CompactionSettings: Sendable, Equatable {
    /// A merge gathers small segments while their column data stays within this many bytes
    /// (before compression); it bounds the memory one merge holds.
    public var targetSegmentBytes = 64 << 20
    /// Segments with less column data than this are merged with their neighbours in time.
    public var smallSegmentBytes = 16 << 20
    /// Replaced segment files stay on disk this long after the swap, so a SQL statement that
    /// listed them just before it can still read them.
    public var deleteGrace: Duration = .seconds(120)
    /// Segment bytes read and written per second, at most; 0 for no limit.
    public var maxBytesPerSecond = 0

    public init() {}
}

/// One thing a compaction does to the segments of one kind.
public struct CompactionAction: Sendable {
    public enum Operation: String, Sendable {
        /// The segments go: every row expired, or the size cap needs their space.
        case delete
        /// One segment straddling the cut-off is written again without its expired rows.
        case rewrite
        /// Small segments become one, re-sorted and re-encoded (expired rows dropped too).
        case merge
    }

    public var operation: Operation
    /// expired, size_cap, straddles_cutoff, small_segments.
    public var reason: String
    public var kind: SegmentKind
    public var inputs: [CatalogSegment]
    /// Filled in as the action runs.
    public var output: String?
    public var rowsOut: Int?
    public var rowsExpired = 0
    public var bytesOut: Int?
    /// Why a planned action changed nothing (e.g. a rewrite that found no expired row).
    public var skipped: String?

    public var rowsIn: Int { inputs.reduce(0) { $0 + $1.rows } }
    public var bytesIn: Int { inputs.reduce(0) { $0 + $1.bytesOnDisk } }
}

/// What a compaction run did, or would do (`dryRun`).
public struct CompactionReport: Sendable {
    public var dryRun: Bool
    public var actions: [CompactionAction] = []
    /// Segment file bytes deleted from disk by this run (replaced files past their grace period).
    public var segmentBytesReclaimed = 0
    /// Replaced files still on disk, deleted once their grace period is over.
    public var pendingDeletionBytes = 0
    public var indexBytesReclaimed = 0
    /// Rows of rollups and other materialized outputs past their age, by table.
    public var outputRowsDeleted: [String: Int] = [:]
    /// Why the run stopped before its plan was done (shutdown, low disk space).
    public var stoppedEarly: String?

    public init(dryRun: Bool) {
        self.dryRun = dryRun
    }

    public func count(_ operation: CompactionAction.Operation) -> Int {
        actions.filter { $0.operation == operation && $0.skipped == nil }.count
    }

    public var segmentsMerged: Int { actions.filter { $0.operation == .merge && $0.skipped == nil }.reduce(0) { $0 + $1.inputs.count } }
    public var segmentsWritten: Int { actions.filter { $0.output != nil }.count }
    public var segmentsDeleted: Int { actions.filter { $0.operation == .delete && $0.skipped == nil }.reduce(0) { $0 + $1.inputs.count } }
    public var rowsExpired: Int { actions.filter { $0.skipped == nil }.reduce(0) { $0 + $1.rowsExpired } }
    public var bytesBefore: Int { actions.filter { $0.skipped == nil }.reduce(0) { $0 + $1.bytesIn } }
    public var bytesAfter: Int { actions.filter { $0.skipped == nil }.reduce(0) { $0 + ($1.bytesOut ?? 0) } }

    /// The report as `POST /api/v1/retention/compact` answers it.
    public var json: [UInt8] {
        var json = JSONWriter()
        json.raw("{"); json.member("dry_run", dryRun)
        json.member("segments_merged", segmentsMerged)
        json.member("segments_rewritten", Int64(count(.rewrite)))
        json.member("segments_deleted", segmentsDeleted)
        json.member("segments_written", segmentsWritten)
        json.member("rows_expired", rowsExpired)
        json.member("bytes_before", bytesBefore)
        json.member("bytes_after", bytesAfter)
        json.member("bytes_reclaimed", Int64(segmentBytesReclaimed + indexBytesReclaimed))
        json.member("segment_bytes_reclaimed", segmentBytesReclaimed)
        json.member("index_bytes_reclaimed", indexBytesReclaimed)
        json.member("pending_deletion_bytes", pendingDeletionBytes)
        json.key("output_rows_deleted"); json.raw("{")
        json.elements(of: outputRowsDeleted.keys.sorted()) { table, json in
            json.string(table); json.raw(":"); json.int(Int64(outputRowsDeleted[table]!))
        }
        json.raw("}"); json.key("stopped_early")
        if let stoppedEarly { json.string(stoppedEarly) } else { json.null() }
        json.key("actions"); json.raw("[")
        json.elements(of: actions) { action, json in
            json.raw("{"); json.member("operation", action.operation.rawValue)
            json.member("reason", action.reason)
            json.member("kind", action.kind.name)
            json.member("inputs", action.inputs.map(\.path))
            json.member("rows_in", action.rowsIn)
            json.member("bytes_in", action.bytesIn)
            json.key("output")
            if let output = action.output { json.string(output) } else { json.null() }
            json.key("rows_out")
            if let rows = action.rowsOut { json.int(Int64(rows)) } else { json.null() }
            json.member("rows_expired", action.rowsExpired)
            json.key("bytes_out")
            if let bytes = action.bytesOut { json.int(Int64(bytes)) } else { json.null() }
            json.key("skipped")
            if let skipped = action.skipped { json.string(skipped) } else { json.null() }
            json.raw("}")
        }
        json.raw("]}")
        return json.bytes
    }
}

/// Decides what a compaction does, from the catalog alone.
public enum CompactionPlanner {
    /// Wholly expired segments and, past the size cap, the oldest ones are deleted; segments
    /// whose oldest rows expired are rewritten; small segments of a kind are merged in time
    /// order up to the target size. `canWrite` false (low disk space) plans deletions only.
    public static func plan(_ catalog: [CatalogSegment], policy: RetentionPolicy, settings: CompactionSettings,
                            now: Int64, canWrite: Bool = true) -> [CompactionAction] {
        var actions: [CompactionAction] = []
        var remaining: [CatalogSegment] = []
        for segment in catalog {
            let longest = policy.longestAge(segment.kind, services: segment.services)
            if longest > 0, segment.maxTime < now - longest {
                actions.append(CompactionAction(operation: .delete, reason: "expired", kind: segment.kind, inputs: [segment]))
            } else {
                remaining.append(segment)
            }
        }
        if policy.maxBytes > 0 {
            var total = Int64(remaining.reduce(0) { $0 + $1.bytesOnDisk })
            var byAge = remaining.sorted { ($0.maxTime, $0.id) < ($1.maxTime, $1.id) }[...]
            var capped = Set<Int64>()
            while total > policy.maxBytes, let oldest = byAge.popFirst() {
                actions.append(CompactionAction(operation: .delete, reason: "size_cap", kind: oldest.kind, inputs: [oldest]))
                capped.insert(oldest.id)
                total -= Int64(oldest.bytesOnDisk)
            }
            remaining.removeAll { capped.contains($0.id) }
        }
        guard canWrite else { return actions }

        func straddles(_ segment: CatalogSegment) -> Bool {
            if let expires = segment.expires { return expires <= now }
            guard let shortest = policy.shortestAge(segment.kind, services: segment.services) else { return false }
            return segment.minTime < now - shortest
        }
        for kind in SegmentKind.allCases {
            let segments = remaining.filter { $0.kind == kind }
            var group: [CatalogSegment] = []
            var groupBytes = 0
            func close() {
                if group.count > 1 {
                    actions.append(CompactionAction(operation: .merge, reason: "small_segments", kind: kind, inputs: group))
                } else if let only = group.first, straddles(only) {
                    actions.append(CompactionAction(operation: .rewrite, reason: "straddles_cutoff", kind: kind, inputs: [only]))
                }
                group = []
                groupBytes = 0
            }
            for segment in segments {
                if segment.bytesRaw < settings.smallSegmentBytes {
                    if !group.isEmpty, groupBytes + segment.bytesRaw > settings.targetSegmentBytes { close() }
                    group.append(segment)
                    groupBytes += segment.bytesRaw
                } else if straddles(segment) {
                    actions.append(CompactionAction(operation: .rewrite, reason: "straddles_cutoff", kind: kind, inputs: [segment]))
                }
            }
            close()
        }
        return actions
    }
}
