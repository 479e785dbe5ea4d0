#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Logging
import Synchronization

/// Watches the free space under the data directory and refuses ingest while it is below a
/// floor, so writes are turned away whole (503 / UNAVAILABLE, clients retry) instead of
/// failing halfway when the disk fills. Ingest resumes by itself once the free space is
/// back above the floor plus a 5% margin (so it does not flap at the edge).
public final class DiskSpaceGuard: Sendable {
    /// Free bytes available to PyFlare under a directory; nil when it cannot be told.
    public typealias Probe = @Sendable (String) -> Int64?

    public let directory: String
    /// 0 turns the guard off.
    public let floor: Int64
    private let probe: Probe
    /// Bytes the store will write soon whatever is admitted now: the segments its next seals
    /// build from the records not sealed yet (as incompressible data, about their size).
    private let pendingWrites: @Sendable () -> Int64
    private let logger: Logger
    private struct State {
        var low = false
        /// Free bytes at the last measurement.
        var free: Int64?
        /// Bytes written since the last measurement (it does not see them yet).
        var writtenSinceProbe: Int64 = 0
        /// Bytes reserved by writes still in progress.
        var inFlight: Int64 = 0
    }

    private let state = Mutex(State())
    private let freeGauge = Gauge(label: "pyflare_disk_free_bytes")
    private let lowGauge = Gauge(label: "pyflare_disk_low")

    public init(directory: String, floor: Int64, logger: Logger, probe: Probe? = nil,
                pendingWrites: @escaping @Sendable () -> Int64 = { 0 }) {
        self.directory = directory
        self.floor = floor
        self.logger = logger
        self.probe = probe ?? Self.defaultProbe
        self.pendingWrites = pendingWrites
    }

    /// `statvfs` of the directory, or, when the environment names one, the number in the file
    /// `PYFLARE_SIMULATED_FREE_BYTES_FILE` (end-to-end tests of the floor, without filling a disk).
    public static let defaultProbe: Probe = { directory in
        if let file = getenv("PYFLARE_SIMULATED_FREE_BYTES_FILE").map({ String(cString: $0) }), !file.isEmpty {
            guard let handle = fopen(file, "r") else { return nil }
            defer { fclose(handle) }
            var buffer = [CChar](repeating: 0, count: 64)
            guard fgets(&buffer, 64, handle) != nil else { return nil }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return Int64(text.filter { !$0.isWhitespace })
        }
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// Why ingest is refused now; nil while there is room.
    public var refusal: String? {
        let (low, free) = state.withLock { ($0.low, $0.free) }
        guard low else { return nil }
        return Self.belowFloor(free: free, floor: floor)
    }

    private static func belowFloor(free: Int64?, floor: Int64) -> String {
        "free space under the data directory is below the floor (\(free.map { "\($0)" } ?? "?") bytes free, "
            + "storage.min_free_bytes is \(floor)); ingest resumes when space is freed"
    }

    /// Reserves `bytes` for a write about to start; returns why it is refused instead. The
    /// free space counted is the last measurement less what was written since, what other
    /// writes hold and what the next seals will write, so concurrent requests cannot together
    /// overshoot the floor between two measurements, nor leave the seals without room.
    /// ``release(_:written:)`` ends the reservation.
    public func reserve(_ bytes: Int64) -> String? {
        guard floor > 0 else { return nil }
        let sealing = pendingWrites()
        return state.withLock { state -> String? in
            if state.low { return Self.belowFloor(free: state.free, floor: floor) }
            if let free = state.free {
                let available = free - state.writtenSinceProbe - state.inFlight - sealing
                if available - bytes < floor {
                    return "this request (\(bytes) bytes to write) would take the free space under the data directory "
                        + "below the floor (storage.min_free_bytes, \(floor)); retry later"
                }
            }
            state.inFlight += bytes
            return nil
        }
    }

    /// Ends a reservation of `reserved` bytes whose write put about `written` bytes on disk.
    public func release(_ reserved: Int64, written: Int64) {
        guard floor > 0 else { return }
        state.withLock { state in
            state.inFlight -= reserved
            state.writtenSinceProbe += written
        }
    }

    public var isLow: Bool { state.withLock { $0.low } }

    /// Free bytes at the last measurement (every second), nil before the first or when unknown.
    public var measuredFreeBytes: Int64? { state.withLock { $0.free } }

    /// Measures the free space once and updates the state; returns whether it is low.
    @discardableResult
    public func check() -> Bool {
        guard floor > 0 else { return false }
        let free = probe(directory)
        let (was, now) = state.withLock { state -> (Bool, Bool) in
            let was = state.low
            if let free {
                state.low = was ? free < floor + floor / 20 : free < floor
            }
            state.free = free
            state.writtenSinceProbe = 0
            return (was, state.low)
        }
        if let free { freeGauge.record(free) }
        lowGauge.record(now ? 1 : 0)
        if now != was {
            if now {
                logger.error("free disk space is below the floor; ingest answers 503 until space is freed",
                             metadata: ["free_bytes": "\(free ?? -1)", "floor_bytes": "\(floor)", "directory": "\(directory)"])
            } else {
                logger.notice("free disk space is back above the floor; ingest resumes", metadata: ["free_bytes": "\(free ?? -1)"])
            }
        }
        return now
    }

    /// Checks every `interval` until the task is cancelled.
    public func monitor(every interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            check()
            try? await Task.sleep(for: interval)
        }
    }
}
