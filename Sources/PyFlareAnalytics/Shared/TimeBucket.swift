/// Bucket boundaries of unix-nanosecond times (UTC, aligned to the epoch), for windows,
/// rollup buckets and budget periods. `width` > 0.
enum TimeBucket {
    /// The start of the bucket holding `time` (rounding toward negative infinity).
    static func floor(_ time: Int64, _ width: Int64) -> Int64 {
        let remainder = time % width
        guard remainder < 0 else { return time - remainder }
        let (previous, overflow) = (time - remainder).subtractingReportingOverflow(width)
        return overflow ? time - remainder : previous
    }

    /// `time` when it is a boundary, else the start of the next bucket; the last boundary
    /// that fits an `Int64` when the next one would not. Times from requests and records stop
    /// at ``UnixTime/latest``, far below that, so only a corrupt value ever meets the cap.
    static func ceil(_ time: Int64, _ width: Int64) -> Int64 {
        let floored = floor(time, width)
        guard floored != time else { return time }
        let (next, overflow) = floored.addingReportingOverflow(width)
        return overflow ? floored : next
    }
}
