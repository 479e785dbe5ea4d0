import PyFlareModel
import PyFlareWire
import Synchronization

/// Acknowledged records (spans, logs, metric points) not yet in a segment, in WAL order:
/// what a seal takes and what reads of recent data search.
package struct Unsealed {
    package struct Entry: Sendable {
        package var sequence: UInt64
        package var item: WALEntry
        var bytes: Int
        var spans: Int { item.spanCount }

        init(sequence: UInt64, item: WALEntry) {
            self.sequence = sequence
            self.item = item
            bytes = item.footprint
        }
    }

    /// Waiting for the next seal.
    private(set) var active: [Entry] = []
    /// Taken by the seal in progress; still readable until the index has the segment.
    private(set) var sealing: [Entry] = []
    private(set) var activeBytes = 0
    private(set) var sealingBytes = 0
    private(set) var oldest: ContinuousClock.Instant?
    /// Spans active and sealing, kept as entries come and go (read on every group commit).
    private(set) var spanCount = 0
    private var sealingSpans = 0
    /// Changes each time a seal starts or ends its index commit; odd while one commits. A read
    /// of the unsealed records and then of the index is consistent when this was even before
    /// and is unchanged after: no span moved from one to the other in between.
    private(set) var commitGeneration: UInt64 = 0

    var totalBytes: Int { activeBytes + sealingBytes }

    mutating func append(_ entry: Entry) {
        if active.isEmpty { oldest = .now }
        active.append(entry)
        activeBytes += entry.bytes
        spanCount += entry.spans
    }

    /// Moves everything active to sealing; nil when a seal is already running or nothing waits.
    mutating func beginSeal() -> [Entry]? {
        guard sealing.isEmpty, !active.isEmpty else { return nil }
        sealing = active
        sealingBytes = activeBytes
        sealingSpans = spanCount
        active = []
        activeBytes = 0
        oldest = nil
        return sealing
    }

    /// The seal's segments are about to be committed to the index.
    mutating func beginCommit() {
        commitGeneration &+= 1
    }

    mutating func finishSeal() {
        if commitGeneration % 2 == 1 { commitGeneration &+= 1 }
        sealing = []
        sealingBytes = 0
        spanCount -= sealingSpans
        sealingSpans = 0
    }

    /// A failed seal gives its entries back, ahead of what arrived since.
    mutating func abortSeal() {
        if commitGeneration % 2 == 1 { commitGeneration &+= 1 }
        guard !sealing.isEmpty else { return }
        active = sealing + active
        activeBytes += sealingBytes
        sealing = []
        sealingBytes = 0
        sealingSpans = 0
        oldest = .now
    }

    /// Every entry, sealing first: what a SQL statement's snapshot holds.
    package var entries: [Entry] { sealing + active }

    /// Every span batch, sealing first: what a read must search.
    var allBatches: [NormalizedBatch] { (sealing + active).flatMap(\.item.spanBatches) }

    /// Every log batch with its WAL sequence, sealing first.
    var allLogs: [(sequence: UInt64, batch: LogBatch)] {
        (sealing + active).compactMap { if case .logs(let batch) = $0.item { ($0.sequence, batch) } else { nil } }
    }

    /// Every metric batch with its WAL sequence, sealing first.
    var allMetrics: [(sequence: UInt64, batch: MetricBatch)] {
        (sealing + active).compactMap { if case .metrics(let batch) = $0.item { ($0.sequence, batch) } else { nil } }
    }
}

/// ``Unsealed`` behind a lock, shared by the store and the WAL's durability callback.
package final class SharedUnsealed: Sendable {
    private let state: Mutex<Unsealed>

    init(_ unsealed: sending Unsealed) {
        state = Mutex(unsealed)
    }

    package func withLock<Result: Sendable>(_ body: (inout Unsealed) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}
