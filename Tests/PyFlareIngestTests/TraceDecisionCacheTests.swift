import Testing
@testable import PyFlareIngest
import PyFlareWire

struct TraceDecisionCacheTests {
    @Test func forgetsTheOldestDecisionsFirst() {
        var cache = TraceDecisionCache(capacity: 3)
        for index in 1...5 { cache.record(index % 2 == 0, for: TraceID(high: 0, low: UInt64(index))) }
        #expect(cache.decision(for: TraceID(high: 0, low: 1)) == nil)
        #expect(cache.decision(for: TraceID(high: 0, low: 2)) == nil)
        #expect(cache.decision(for: TraceID(high: 0, low: 3)) == false)
        #expect(cache.decision(for: TraceID(high: 0, low: 4)) == true)
        #expect(cache.decision(for: TraceID(high: 0, low: 5)) == false)
    }

    @Test func tokenBucketRefillsAtItsRate() {
        var bucket = TokenBucket(rate: 10, capacity: 2)
        let taken = [0, 0, 0, 50_000_000, 100_000_000].map { bucket.take(now: UInt64($0)) }
        // Two from the full bucket, none left, half a token after 50 ms, a whole one after 100 ms.
        #expect(taken == [true, true, false, false, true])
    }
}
