public import PyFlareWire
import Synchronization

/// What one project's ingest did lately: counts since the server started and per minute over
/// the last hour, for the Operations page. The Prometheus counters (`IngestMetrics`) are the
/// server's, summed over projects; this is one project's, kept in memory and lost on restart.
public final class IngestActivity: Sendable {
    public enum Event: Int, Sendable, CaseIterable {
        case spansAccepted
        /// Refused with 429 / RESOURCE_EXHAUSTED (the queue was full) or 503 at shutdown.
        case spansRefusedBusy
        case spansRefusedStorage
        /// Refused one by one within an accepted request (bad ids, times).
        case spansRejectedInvalid
        case logRecordsAccepted, metricPointsAccepted
        /// Log records and metric points the store could not write.
        case recordsRefusedStorage
        /// Whole requests: undecodable, or refused below the disk floor before decoding.
        case requestsMalformed, requestsRefusedDiskLow

        /// The API's name of the count.
        public var name: StaticString {
            switch self {
            case .spansAccepted: "spans_accepted"
            case .spansRefusedBusy: "spans_refused_busy"
            case .spansRefusedStorage: "spans_refused_storage"
            case .spansRejectedInvalid: "spans_rejected_invalid"
            case .logRecordsAccepted: "log_records_accepted"
            case .metricPointsAccepted: "metric_points_accepted"
            case .recordsRefusedStorage: "records_refused_storage"
            case .requestsMalformed: "requests_malformed"
            case .requestsRefusedDiskLow: "requests_refused_disk_low"
            }
        }
    }

    /// The counts of one minute (or of the whole run), indexed by ``Event``.
    public struct Counts: Sendable, Equatable {
        public var values = [Int](repeating: 0, count: Event.allCases.count)

        public init() {}
        public subscript(event: Event) -> Int { values[event.rawValue] }

        mutating func add(_ event: Event, _ count: Int) { values[event.rawValue] += count }
    }

    public struct Snapshot: Sendable {
        public var started: Int64
        public var total: Counts
        /// The last `minutes` minutes, oldest first, the current one last (partial).
        public var minutes: [(start: Int64, counts: Counts)]
    }

    public static let minutesKept = 60
    private static let minute = Int64(60_000_000_000)

    private struct State {
        var total = Counts()
        /// Ring by minute number; a slot holds the minute it was last written in.
        var ring = [(minute: Int64, counts: Counts)](repeating: (-1, Counts()), count: IngestActivity.minutesKept)
    }

    public let started: Int64
    private let state = Mutex(State())

    public init(started: Int64 = UnixTime.nowNanoseconds()) {
        self.started = started
    }

    public func record(_ event: Event, _ count: Int, now: Int64 = UnixTime.nowNanoseconds()) {
        guard count > 0 else { return }
        let minute = now / Self.minute
        state.withLock { state in
            state.total.add(event, count)
            let slot = Int(minute % Int64(Self.minutesKept))
            if state.ring[slot].minute != minute { state.ring[slot] = (minute, Counts()) }
            state.ring[slot].counts.add(event, count)
        }
    }

    public func snapshot(now: Int64 = UnixTime.nowNanoseconds()) -> Snapshot {
        let current = now / Self.minute
        return state.withLock { state in
            let minutes = ((current - Int64(Self.minutesKept) + 1)...current).map { minute in
                let slot = state.ring[Int(minute % Int64(Self.minutesKept))]
                return (start: minute * Self.minute, counts: slot.minute == minute ? slot.counts : Counts())
            }
            return Snapshot(started: started, total: state.total, minutes: minutes)
        }
    }
}
