import Foundation
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// Pattern rules on seeded series with planted problems, and on clean series (no finding).
@Suite struct PatternDetectionTests {
    static let t0: Int64 = 1_767_225_600 * UnixTime.second
    static let settings = PatternSettings()

    /// 288 five-minute buckets of ~100 requests at a 2% error rate; `rate` may override a bucket's rate.
    static func rateBuckets(seed: UInt64, rate: (Int) -> Double? = { _ in nil }) -> [PatternDetector.RateBucket] {
        var random = SeededGenerator(seed: seed)
        return (0..<288).map { index in
            let requests = Int.random(in: 80...120, using: &random)
            let p = rate(index) ?? 0.02
            let errors = (0..<requests).count { _ in Double.random(in: 0..<1, using: &random) < p }
            return PatternDetector.RateBucket(start: t0 + Int64(index) * settings.errorBucket, requests: requests, errors: errors)
        }
    }

    @Test func anErrorSpikeIsFoundWithItsWindow() {
        let buckets = Self.rateBuckets(seed: 3) { (200..<206).contains($0) ? 0.4 : nil }
        let spikes = PatternDetector.errorSpikes(scope: [("service", "api")], buckets: buckets, now: Self.t0, settings: Self.settings)
        #expect(spikes.count == 1)
        let spike = try! #require(spikes.first)
        #expect(spike.start == buckets[200].start)
        #expect(spike.end == buckets[205].start + Self.settings.errorBucket)
        #expect(spike.severity > 0.4 && spike.severity <= 1)
        #expect(spike.description.contains("service api"))
        // the id stays while the spike lasts: the same start gives the same id
        let again = PatternDetector.errorSpikes(scope: [("service", "api")], buckets: Array(buckets.prefix(203)), now: Self.t0, settings: Self.settings)
        #expect(again.first?.id == spike.id)
        #expect(again.first?.end == nil)
    }

    @Test func noisyButSteadyErrorRatesHaveNoSpike() {
        for seed in 10..<20 as Range<UInt64> {
            let buckets = Self.rateBuckets(seed: seed)
            #expect(PatternDetector.errorSpikes(scope: [], buckets: buckets, now: Self.t0, settings: Self.settings).isEmpty, "seed \(seed)")
        }
    }

    static func latencyBuckets(seed: UInt64, growth: Double) -> [PatternDetector.LatencyBucket] {
        var random = SeededGenerator(seed: seed)
        return (0..<96).map { index in
            let p95 = 800 * (1 + growth * Double(index) / 96) * exp(Double.random(in: -0.15..<0.15, using: &random))
            return PatternDetector.LatencyBucket(start: t0 + Int64(index) * settings.latencyBucket, requests: 50,
                                                 p95Milliseconds: p95, inputTokensPerRequest: 500)
        }
    }

    @Test func aLatencyTrendIsFoundOnItsModel() {
        let pattern = PatternDetector.latencyDegradation(scope: [("model", "gpt-4o")], buckets: Self.latencyBuckets(seed: 1, growth: 1.0),
                                                         settings: Self.settings)
        let found = try! #require(pattern)
        #expect(found.type == .latencyDegradation && found.scopeValue("model") == "gpt-4o")
        #expect(found.evidence.contains("\"p95_before_ms\""))
        for seed in 1..<8 as Range<UInt64> {
            #expect(PatternDetector.latencyDegradation(scope: [], buckets: Self.latencyBuckets(seed: seed, growth: 0), settings: Self.settings) == nil)
        }
    }

    @Test func aRunawaySpenderIsFoundAgainstItsHistoryOrItsPeers() {
        let history: [Int64] = [2_000_000, 2_500_000, 1_800_000, 2_200_000, 2_100_000, 1_900_000, 2_300_000]
        let runaway = PatternDetector.costAnomaly(dimension: "user", key: "u-9", recentMicros: 40_000_000, dailyHistoryMicros: history,
                                                  peerMedianMicros: nil, peers: 0, firstRecentHour: Self.t0, settings: Self.settings)
        #expect(runaway?.scopeValue("user") == "u-9")
        #expect(runaway?.description.contains("$40.00") == true)
        let normal = PatternDetector.costAnomaly(dimension: "user", key: "u-9", recentMicros: 2_600_000, dailyHistoryMicros: history,
                                                 peerMedianMicros: nil, peers: 0, firstRecentHour: Self.t0, settings: Self.settings)
        #expect(normal == nil)
        let newcomer = PatternDetector.costAnomaly(dimension: "user", key: "new", recentMicros: 30_000_000, dailyHistoryMicros: [],
                                                   peerMedianMicros: 500_000, peers: 12, firstRecentHour: Self.t0, settings: Self.settings)
        #expect(newcomer != nil)
        // below the dollar floor nothing is an anomaly
        let small = PatternDetector.costAnomaly(dimension: "user", key: "new", recentMicros: 300_000, dailyHistoryMicros: [],
                                                peerMedianMicros: 1_000, peers: 12, firstRecentHour: Self.t0, settings: Self.settings)
        #expect(small == nil)
    }

    @Test func errorsAtCertainHoursAreATemporalPattern() {
        let requests = Array(repeating: 700, count: 24)
        var errors = Array(repeating: 10, count: 24)
        errors[2] = 90
        errors[3] = 80
        let pattern = try! #require(PatternDetector.temporalPattern(scope: [("service", "batch")], requests: requests, errors: errors, days: 7, start: Self.t0))
        #expect(pattern.evidence.contains(#""hours_utc":[2,3]"#))
        #expect(PatternDetector.temporalPattern(scope: [], requests: requests, errors: Array(repeating: 10, count: 24), days: 7, start: Self.t0) == nil)
        // a few hours of data are no daily pattern
        #expect(PatternDetector.temporalPattern(scope: [], requests: requests, errors: errors, days: 1, start: Self.t0) == nil)
    }

    @Test func usersWithOutsizedFailuresAreOneSegment() {
        var users = (0..<30).map { PatternDetector.UserCounts(user: "u\($0)", requests: 100, errors: 2 + $0 % 3) }
        users[4].errors = 40
        users[17].errors = 35
        let pattern = try! #require(PatternDetector.userSegment(scope: [("service", "api")], users: users, start: Self.t0))
        #expect(pattern.scopeValue("users") == "u17,u4")
        let clean = (0..<30).map { PatternDetector.UserCounts(user: "u\($0)", requests: 100, errors: 2 + $0 % 4) }
        #expect(PatternDetector.userSegment(scope: [], users: clean, start: Self.t0) == nil)
    }
}

extension DetectedPattern: Equatable {
    public static func == (a: DetectedPattern, b: DetectedPattern) -> Bool { a.id == b.id && a.start == b.start && a.end == b.end }
}

@Suite struct PeerMedianTests {
    @Test func theMedianOfTheOthersLeavesOutOneOccurrence() {
        #expect(PatternDetection.medianWithoutOne(5, of: [1, 2, 5, 9]) == 2)
        #expect(PatternDetection.medianWithoutOne(1, of: [1, 2, 5, 9]) == 5)
        #expect(PatternDetection.medianWithoutOne(2, of: [2, 2, 2, 8]) == 2)
        #expect(PatternDetection.medianWithoutOne(9, of: [1, 3, 9]) == 2)
        #expect(PatternDetection.medianWithoutOne(4, of: [4]) == nil)
    }
}
