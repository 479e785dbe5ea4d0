import PyFlareSQL
import PyFlareWire

/// The windows a job walks a pending range in when what it holds per window grows with the
/// records it reads (texts to score, failures to cluster): each window holds at most about
/// `budget` of the records `counting` selects, however dense the data is.
///
/// Windows of fixed length cannot bound that: an hour of a burst holds a million retriever
/// spans, an hour of a quiet service none. So the records are counted first, in fine time
/// buckets (only their times are read, which costs a fraction of reading them), and
/// consecutive buckets are joined while their sum stays within the budget. A bucket above the
/// budget is counted again in finer buckets, down to a millisecond; records closer together
/// than that share a window whatever their number.
struct DensityWindows {
    /// A statement selecting one column `t` (the record's time) from the records the job
    /// reads, bounded by `:start` and `:end`, e.g. `SELECT start_time_ns AS t FROM spans WHERE
    /// ai_kind = 'retriever' AND start_time_ns >= :start AND start_time_ns < :end`. A cheaper
    /// superset of the records is fine: it only makes windows smaller.
    let counting: String
    let budget: Int
    /// Buckets per counted range.
    var buckets: Int64 = 4_096
    /// Buckets are not split below this.
    var finest: Int64 = 1_000_000

    /// Calls `body` on consecutive windows covering `range` exactly, in order.
    func walk(_ range: Range<Int64>, _ context: JobContext, _ body: (Range<Int64>) async throws -> Void) async throws {
        for window in try await windows(range, context) {
            try await body(window)
        }
    }

    func windows(_ range: Range<Int64>, _ context: JobContext) async throws -> [Range<Int64>] {
        var windows: [Range<Int64>] = []
        var start = range.lowerBound, held = 0
        for (bucket, count) in try await counts(range, context) {
            if count > budget {
                if start < bucket.lowerBound { windows.append(start..<bucket.lowerBound) }
                windows += try await self.windows(bucket, context)
                (start, held) = (bucket.upperBound, 0)
            } else if held + count > budget {
                windows.append(start..<bucket.lowerBound)
                (start, held) = (bucket.lowerBound, count)
            } else {
                held += count
            }
        }
        if start < range.upperBound { windows.append(start..<range.upperBound) }
        return windows
    }

    /// The non-empty buckets of `range` in time order with their record counts; a bucket
    /// too fine to split reports a count of at most `budget`, so it is never split again.
    private func counts(_ range: Range<Int64>, _ context: JobContext) async throws -> [(Range<Int64>, Int)] {
        let length = range.upperBound.subtractingReportingOverflow(range.lowerBound)
        let width = max(finest, length.overflow ? Int64.max / buckets : (length.partialValue + buckets - 1) / buckets)
        let result = try await context.engine.run("""
            SELECT (t - :start) / :width AS bucket, count(*) FROM (\(counting)) GROUP BY bucket ORDER BY bucket
            """, parameters: .named(["start": .integer(range.lowerBound), "end": .integer(range.upperBound), "width": .integer(width)]),
            limits: context.settings.jobLimits)
        let splittable = width > finest
        return result.rows.compactMap { row in
            guard let index = row[0].integer, let count = row[1].integer else { return nil }
            let lower = range.lowerBound + index * width
            let bucket = lower..<min(range.upperBound, lower.addingReportingOverflow(width).overflow ? range.upperBound : lower + width)
            return (bucket, splittable ? Int(count) : min(Int(count), budget))
        }
    }
}
