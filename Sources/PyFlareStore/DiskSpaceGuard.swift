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
    private let logger: Logger
    private let state = Mutex<(low: Bool, free: Int64?)>((false, nil))
    private let freeGauge = Gauge(label: "pyflare_disk_free_bytes")
    private let lowGauge = Gauge(label: "pyflare_disk_low")

    public init(directory: String, floor: Int64, logger: Logger, probe: Probe? = nil) {
        self.directory = directory
        self.floor = floor
        self.logger = logger
        self.probe = probe ?? Self.defaultProbe
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
        let (low, free) = state.withLock { $0 }
        guard low else { return nil }
        return "free space under the data directory is below the floor (\(free.map { "\($0)" } ?? "?") bytes free, "
            + "storage.min_free_bytes is \(floor)); ingest resumes when space is freed"
    }

    public var isLow: Bool { state.withLock { $0.low } }

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
