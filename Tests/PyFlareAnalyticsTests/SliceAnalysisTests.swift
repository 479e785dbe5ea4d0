import Foundation
import PyFlareStore
import PyFlareSQL
import PyFlareWire
import PyFlareTesting
import Testing
@testable import PyFlareAnalytics

/// Slice analysis on seeded workloads with planted problems: each is found with the right
/// definition (a pair problem as the pair, not as its two values), and a clean workload
/// yields no significant finding.
@Suite struct SliceAnalysisTests {
    static let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet"]
    static let features = ["chat", "search", "summarize"]

    /// A workload of `count` requests; `shape` may change a request's error, latency (ms) or cost (micro-dollars).
    static func requests(count: Int = 9_000, seed: UInt64 = 7,
                         shape: (_ model: String, _ feature: String, _ user: String, inout Bool, inout Double, inout Double) -> Void = { _, _, _, _, _, _ in })
        -> SliceRequests {
        var random = SeededGenerator(seed: seed)
        var requests = SliceRequests(dimensions: SliceAnalyzer(settings: SliceSettings()).dimensionNames.count)
        for i in 0..<count {
            let model = models[Int.random(in: 0..<3, using: &random)]
            let feature = features[Int.random(in: 0..<3, using: &random)]
            let user = "user-\(Int.random(in: 0..<20, using: &random))"
            var error = Double.random(in: 0..<1, using: &random) < 0.03
            var latency = 400 * exp(Double.random(in: -0.5..<0.5, using: &random))
            var cost = 2_000 * exp(Double.random(in: -0.5..<0.5, using: &random))
            shape(model, feature, user, &error, &latency, &cost)
            let start = Int64(1_767_225_600 + i * 9) * UnixTime.second
            requests.append([
                .text(model), .text("openai"), .text("api"), .text("chat"), .text(user), .text(feature), .text("prod"), .null,
                .integer(Int64.random(in: 200..<400, using: &random)), .integer(Int64.random(in: 50..<150, using: &random)),
                .integer(Int64(latency * 1_000_000)), .integer(start), .integer(error ? 1 : 0), .integer(Int64(cost)), .integer(400),
            ], customColumns: 0)
        }
        return requests
    }

    static func analyze(_ requests: SliceRequests) -> [SliceFinding] {
        SliceAnalyzer(settings: SliceSettings()).analyze(requests)
    }

    static func definition(_ finding: SliceFinding) -> [String: String] {
        Dictionary(uniqueKeysWithValues: finding.definition)
    }

    @Test func aProblemOfOnePairIsReportedAsThePair() {
        let findings = Self.analyze(Self.requests { model, feature, _, error, _, _ in
            if model == "gpt-4o-mini" && feature == "search" { error = error || Double.random(in: 0..<1) < 0.3 }
        })
        let errors = findings.filter { $0.metric == .errorRate }
        let top = try! #require(errors.first)
        #expect(Self.definition(top) == ["model": "gpt-4o-mini", "feature": "search"])
        #expect(top.significant && top.pValue < 1e-6)
        #expect(top.value > 0.25 && top.baseline < 0.05)
        // excess errors over the overall rate: less than over the complement's rate
        #expect(top.impact > 0.2 * Double(top.sampleCount) && top.impact < top.deviation * Double(top.sampleCount))
        // not smeared over its two values
        #expect(!errors.contains { Self.definition($0) == ["model": "gpt-4o-mini"] })
        #expect(!errors.contains { Self.definition($0) == ["feature": "search"] })
    }

    @Test func aSlowModelIsReportedAsTheModelAlone() {
        let findings = Self.analyze(Self.requests { model, _, _, _, latency, _ in
            if model == "claude-sonnet" { latency *= 3 }
        })
        let latency = findings.filter { $0.metric == .latencyP95 }
        let top = try! #require(latency.first)
        #expect(Self.definition(top) == ["model": "claude-sonnet"])
        #expect(top.value > 2 * top.baseline)
        // its pairs with every feature say nothing more than the model does
        #expect(!latency.contains { $0.definition.count == 2 && Self.definition($0)["model"] == "claude-sonnet" })
    }

    @Test func anExpensiveUserIsFoundByCostPerRequest() {
        let findings = Self.analyze(Self.requests { _, _, user, _, _, cost in
            if user == "user-7" { cost *= 5 }
        })
        let top = try! #require(findings.first { $0.metric == .costPerRequest })
        #expect(Self.definition(top) == ["user": "user-7"])
        #expect(top.value > 4 * top.baseline)
        #expect(top.significant)
    }

    @Test func aCleanWorkloadHasNoSignificantFinding() {
        for seed in [1, 2, 3] as [UInt64] {
            let findings = Self.analyze(Self.requests(seed: seed))
            #expect(findings.filter(\.significant).isEmpty, "seed \(seed): \(findings.map { "\($0.metric) \($0.definition)" })")
        }
    }

    @Test func bucketsNameTheirBounds() {
        #expect(SliceRequests.bucket(50, [100, 500], unit: "tok") == "<100tok")
        #expect(SliceRequests.bucket(100, [100, 500], unit: "tok") == "100-500tok")
        #expect(SliceRequests.bucket(900, [100, 500], unit: "tok") == "500+tok")
    }
}
