import Synchronization
public import PyFlareWire
public import PyFlareModel

/// Decides which spans to keep, per the configured strategy.
///
/// Stateless strategies hash the trace id; rate limiting and parent-based sampling
/// remember recent per-trace decisions (bounded) so that spans of one trace that
/// arrive in different requests share their fate.
public final class Sampler: Sendable {
    public let configuration: SamplerConfiguration
    private let state: Mutex<State>
    private let clock: @Sendable () -> UInt64

    struct State {
        var buckets: [Int: TokenBucket] = [:]
        var decisions = TraceDecisionCache(capacity: 200_000)
    }

    /// - Parameter clock: monotonic nanoseconds; tests pass a fake one.
    public init(_ configuration: SamplerConfiguration,
                clock: @escaping @Sendable () -> UInt64 = MonotonicClock.nanoseconds) {
        self.configuration = configuration
        self.clock = clock
        self.state = Mutex(State())
    }

    /// Per-span keep flags for `batch`.
    public func decide(_ batch: NormalizedBatch) -> [Bool] {
        switch configuration {
        case .alwaysOn: return Array(repeating: true, count: batch.count)
        case .alwaysOff: return Array(repeating: false, count: batch.count)
        default: break
        }
        let now = clock()
        return state.withLock { state in
            var keep = Array(repeating: false, count: batch.count)
            if case .parentBased(let root) = configuration {
                // Roots decide for their trace; the batch's roots go first so that children
                // sent in the same request follow them.
                for span in 0..<batch.count where batch.spans.parentSpanIDs[span] == 0 {
                    let decision = decide(root, span: span, in: batch, now: now, state: &state, path: 0)
                    state.decisions.record(decision, for: batch.spans.traceIDs[span])
                    keep[span] = decision
                }
                for span in 0..<batch.count where batch.spans.parentSpanIDs[span] != 0 {
                    let trace = batch.spans.traceIDs[span]
                    if let known = state.decisions.decision(for: trace) {
                        keep[span] = known
                    } else {
                        let decision = decide(root, span: span, in: batch, now: now, state: &state, path: 0)
                        state.decisions.record(decision, for: trace)
                        keep[span] = decision
                    }
                }
            } else {
                for span in 0..<batch.count {
                    keep[span] = decide(configuration, span: span, in: batch, now: now, state: &state, path: 0)
                }
            }
            return keep
        }
    }

    /// `path` identifies a nested strategy, so nested rate limiters keep separate buckets.
    private func decide(_ strategy: SamplerConfiguration, span: Int, in batch: NormalizedBatch, now: UInt64,
                        state: inout State, path: Int) -> Bool {
        let trace = batch.spans.traceIDs[span]
        switch strategy {
        case .alwaysOn: return true
        case .alwaysOff: return false
        case .probabilistic(let rate): return Self.hashKeeps(trace, rate: rate)
        case .rateLimiting(let perSecond):
            if let known = state.decisions.decision(for: trace) { return known }
            var bucket = state.buckets[path] ?? TokenBucket(rate: perSecond, capacity: max(1, perSecond))
            let decision = bucket.take(now: now)
            state.buckets[path] = bucket
            state.decisions.record(decision, for: trace)
            return decision
        case .parentBased(let root):
            return decide(root, span: span, in: batch, now: now, state: &state, path: path + 1)
        case .composite(let defaultRate, let services):
            let service = batch.columns.service[span]
            let rate = service.isEmpty ? defaultRate : services[batch.spans.string(service)] ?? defaultRate
            return Self.hashKeeps(trace, rate: rate)
        case .attributeBased(let defaultRate, let rules):
            return Self.hashKeeps(trace, rate: Self.ruleRate(rules, defaultRate: defaultRate, span: span, in: batch.spans))
        }
    }

    /// True when the trace's hash falls under `rate` of the 64-bit range.
    @inlinable
    public static func hashKeeps(_ trace: TraceID, rate: Double) -> Bool {
        if rate >= 1 { return true }
        if rate <= 0 { return false }
        return SpanBatch.fnv1a(trace) < UInt64(rate * 18_446_744_073_709_551_615.0)
    }

    static func ruleRate(_ rules: [SamplerConfiguration.AttributeRule], defaultRate: Double, span: Int, in batch: SpanBatch) -> Double {
        let range = batch.spanAttributes[span]
        for rule in rules {
            for row in range.indices where batch.withBytes(batch.attributes.keys[row], { $0.elementsEqual(rule.keyUTF8) }) {
                guard let expected = rule.value else { return rule.rate }
                if batch.value(in: batch.attributes, row: row).text == expected { return rule.rate }
            }
        }
        return defaultRate
    }
}

extension AttributeValue {
    /// The value as a rule compares it: strings as is, numbers and bools in their usual spelling.
    var text: String? {
        switch self {
        case .string(let value): value
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .double(let value): String(value)
        default: nil
        }
    }
}

/// Monotonic nanoseconds since the process first asked.
public enum MonotonicClock {
    private static let origin = ContinuousClock.now

    public static func nanoseconds() -> UInt64 {
        let (seconds, attoseconds) = origin.duration(to: .now).components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
