import PyFlareModel
import PyFlareWire

/// The span keys of the last seals, so a span an exporter sent again (after losing the
/// response to its first attempt) is stored and counted once, not twice.
///
/// Bounded by ``capacity`` keys and ``maxSeals`` seals: the oldest seals' keys are forgotten first. A re-send
/// that arrives after that, or across a restart, is stored again; the trace API still
/// shows it once (it removes duplicate span ids), the trace summary counts it twice.
struct RecentSpans {
    var capacity: Int
    let maxSeals = 16
    /// Each remembered key with the ordinal of the seal that wrote it: one lookup a span, where
    /// a set per seal cost a hash per seal (up to 17 of Swift's SipHash a span, 6 % of ingest).
    private var sealOfKey: [SpanKey: UInt64] = [:]
    /// The remembered seals, oldest first, with their keys, to forget them by.
    private var seals: [(ordinal: UInt64, keys: [SpanKey])] = []
    private var count = 0
    private var nextOrdinal: UInt64 = 0

    init(capacity: Int = 500_000) {
        self.capacity = capacity
    }

    /// `batches` without spans already sealed recently or repeated among themselves, and
    /// the keys to ``remember(_:)`` once the seal is committed.
    func removingDuplicates(_ batches: [NormalizedBatch]) -> (batches: [NormalizedBatch], keys: Set<SpanKey>, removed: Int) {
        var keys = Set<SpanKey>(minimumCapacity: batches.reduce(0) { $0 + $1.count })
        var removed = 0
        var result: [NormalizedBatch] = []
        result.reserveCapacity(batches.count)
        for var batch in batches {
            let spans = batch.spans
            var keep = [Bool](repeating: true, count: spans.count)
            var dropped = false
            for row in 0..<spans.count {
                let key = SpanKey(trace: spans.traceIDs[row], span: spans.spanIDs[row])
                if !keys.insert(key).inserted || sealOfKey[key] != nil {
                    keep[row] = false
                    dropped = true
                    removed += 1
                }
            }
            if dropped { batch.retain(keep) }
            if batch.count > 0 { result.append(batch) }
        }
        return (result, keys, removed)
    }

    mutating func remember(_ keys: Set<SpanKey>) {
        let ordinal = nextOrdinal
        nextOrdinal += 1
        for key in keys { sealOfKey[key] = ordinal }
        seals.append((ordinal, Array(keys)))
        count += keys.count
        while count > capacity || seals.count > maxSeals, !seals.isEmpty {
            let forgotten = seals.removeFirst()
            count -= forgotten.keys.count
            // A key a later seal wrote again stays, as that seal's.
            for key in forgotten.keys where sealOfKey[key] == forgotten.ordinal { sealOfKey[key] = nil }
        }
    }

    /// Keys held (for tests of the bound).
    var heldKeys: Int { sealOfKey.count }
}
