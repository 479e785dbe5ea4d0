/// The windows a job walks a pending range in: `initial` long at first, four times longer
/// after a window that held few rows (up to `maximum`), back to `initial` after a crowded one.
/// A range made long by one stray record (a span stamped a year ago) then costs a handful of
/// statements instead of one per hour, while dense stretches are still read in windows that
/// bound the rows held at once. Window lengths stay multiples of `initial`, so windows aligned
/// to a job's buckets stay aligned.
struct AdaptiveWindows {
    let initial: Int64
    let maximum: Int64
    /// A window with fewer rows than this lets the next one grow.
    var fewRows = 1_000

    /// Calls `body` on consecutive windows covering `range` exactly; `body` returns the rows it found.
    func walk(_ range: Range<Int64>, _ body: (Range<Int64>) async throws -> Int) async throws {
        var length = initial
        var start = range.lowerBound
        while start < range.upperBound {
            let (sum, overflow) = start.addingReportingOverflow(length)
            let window = start..<(overflow ? range.upperBound : min(range.upperBound, sum))
            let rows = try await body(window)
            start = window.upperBound
            if rows < fewRows {
                length = min(maximum, length.multipliedReportingOverflow(by: 4).overflow ? maximum : length * 4)
            } else if rows > fewRows * 10 {
                length = initial
            }
        }
    }
}
