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
    /// Keys of forgotten seals stay until they are a quarter of the live ones, ignored by ordinal.
    private var sealOfKey: [SpanKey: UInt64] = [:]
    /// The remembered seals, oldest first: ordinal and key count.
    private var seals: [(ordinal: UInt64, keys: Int)] = []
    private var count = 0
    private var nextOrdinal: UInt64 = 0

    init(capacity: Int = 500_000) {
        self.capacity = capacity
    }

    /// Keys of seals before this one are forgotten.
    private var oldestRemembered: UInt64 { seals.first?.ordinal ?? nextOrdinal }

    /// `batches` without spans already sealed recently or repeated among themselves, and
    /// the keys to ``remember(_:)`` once the seal is committed.
    func removingDuplicates(_ batches: [NormalizedBatch]) -> (batches: [NormalizedBatch], keys: Set<SpanKey>, removed: Int) {
        var keys = Set<SpanKey>(minimumCapacity: batches.reduce(0) { $0 + $1.count })
        var removed = 0
        var result: [NormalizedBatch] = []
        result.reserveCapacity(batches.count)
        let oldest = oldestRemembered
        for var batch in batches {
            let spans = batch.spans
            var keep = [Bool](repeating: true, count: spans.count)
            var dropped = false
            for row in 0..<spans.count {
                let key = SpanKey(trace: spans.traceIDs[row], span: spans.spanIDs[row])
                if !keys.insert(key).inserted || sealOfKey[key].map({ $0 >= oldest }) == true {
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
        seals.append((ordinal, keys.count))
        count += keys.count
        while count > capacity || seals.count > maxSeals, !seals.isEmpty {
            count -= seals.removeFirst().keys
        }
        if sealOfKey.count > count + count / 4 + 1_024 {
            let oldest = oldestRemembered
            sealOfKey = sealOfKey.filter { $0.value >= oldest }
        }
    }

    /// Keys held, forgotten ones included (for tests of the bound).
    var heldKeys: Int { sealOfKey.count }
}
