/// Bucket boundaries of unix-nanosecond times (UTC, aligned to the epoch), for windows,
/// rollup buckets and budget periods. `width` > 0.
enum TimeBucket {
    /// The start of the bucket holding `time` (rounding toward negative infinity).
    static func floor(_ time: Int64, _ width: Int64) -> Int64 {
        let remainder = time % width
        return remainder < 0 ? time - remainder - width : time - remainder
    }

    /// `time` when it is a boundary, else the start of the next bucket.
    static func ceil(_ time: Int64, _ width: Int64) -> Int64 {
        let floored = floor(time, width)
        return floored == time ? time : floored + width
    }
}
