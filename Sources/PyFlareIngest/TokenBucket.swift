import PyFlareWire

/// A token bucket: `rate` tokens per second, holding at most `capacity`.
struct TokenBucket: Sendable {
    let rate: Double
    let capacity: Double
    private var tokens: Double
    private var lastRefill: UInt64?

    init(rate: Double, capacity: Double) {
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
    }

    /// Takes one token if available at time `now` (nanoseconds, monotonic).
    mutating func take(now: UInt64) -> Bool {
        if let lastRefill, now > lastRefill {
            tokens = min(capacity, tokens + Double(now - lastRefill) / 1e9 * rate)
        }
        lastRefill = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Decisions already made for recent traces, so later spans of a trace get the same one.
/// Bounded: the oldest decisions are forgotten first.
struct TraceDecisionCache: Sendable {
    private var decisions: [TraceID: Bool] = [:]
    private var order: [TraceID] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        decisions.reserveCapacity(capacity)
    }

    func decision(for trace: TraceID) -> Bool? { decisions[trace] }

    mutating func record(_ decision: Bool, for trace: TraceID) {
        guard decisions.updateValue(decision, forKey: trace) == nil else { return }
        if order.count < capacity {
            order.append(trace)
        } else {
            decisions[order[head]] = nil
            order[head] = trace
            head = (head + 1) % capacity
        }
    }
}

