import Synchronization

/// Slows down guessing: each client address may fail `burst` key checks at once, then one per
/// `refillSeconds`. Past that, its requests carrying a key are refused without checking it
/// until the bucket refills; other addresses are not affected.
///
/// At most `maxAddresses` are remembered: when full, addresses whose bucket has refilled are
/// forgotten first (they are no different from new ones), then the whole table.
public final class FailureThrottle: Sendable {
    public let burst: Double
    public let refillSeconds: Double
    let maxAddresses: Int

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int = 10, refillSeconds: Double = 1, maxAddresses: Int = 10_000) {
        self.burst = Double(burst)
        self.refillSeconds = refillSeconds
        self.maxAddresses = maxAddresses
    }

    /// Seconds until `address` may try again, or nil when it may try now.
    func retryAfter(_ address: String) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLock { buckets -> Int? in
            guard var bucket = buckets[address] else { return nil }
            refill(&bucket, now: now)
            buckets[address] = bucket
            return bucket.tokens >= 1 ? nil : max(1, Int(((1 - bucket.tokens) * refillSeconds).rounded(.up)))
        }
    }

    func recordFailure(_ address: String) {
        let now = ContinuousClock.now
        buckets.withLock { buckets in
            var bucket = buckets[address] ?? Bucket(tokens: burst, updated: now)
            refill(&bucket, now: now)
            bucket.tokens = max(0, bucket.tokens - 1)
            if buckets[address] == nil, buckets.count >= maxAddresses {
                buckets = buckets.filter { _, bucket in
                    var copy = bucket
                    refill(&copy, now: now)
                    return copy.tokens < burst
                }
                if buckets.count >= maxAddresses { buckets = [:] }
            }
            buckets[address] = bucket
        }
    }

    private func refill(_ bucket: inout Bucket, now: ContinuousClock.Instant) {
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        bucket.tokens = min(burst, bucket.tokens + seconds / refillSeconds)
        bucket.updated = now
    }
}
