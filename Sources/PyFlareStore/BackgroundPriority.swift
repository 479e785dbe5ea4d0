#if canImport(Glibc)
import Glibc
#endif

/// The priority of the store's background work (sealing, compaction): nice 10, so ingest
/// and queries take the CPU first and background work the CPU they leave.
package enum BackgroundPriority {
    package static let niceness: Int32 = 10

    /// Lowers the calling thread's priority; on Linux, `PRIO_PROCESS` with id 0 is the calling
    /// thread. Only for threads that do nothing but background work: it is not raised again.
    package static func lowerCallingThread() {
        lower(to: niceness)
    }

    /// Sets the calling thread's niceness to `niceness` (ad-hoc SQL runs below background work).
    package static func lower(to niceness: Int32) {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }
}
