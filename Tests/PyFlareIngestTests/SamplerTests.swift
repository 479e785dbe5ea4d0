import Synchronization
import Testing
@testable import PyFlareIngest
import PyFlareModel
import PyFlareTesting
import PyFlareWire

/// Batches of `traces` traces of `spansPerTrace` spans each (a root and its children), seeded.
func makeTraces(_ traces: Int, spansPerTrace: Int = 3, seed: UInt64 = 42,
                service: (Int) -> String = { _ in "svc" },
                attributes: (Int) -> [(String, AttributeValue)] = { _ in [] }) -> NormalizedBatch {
    var random = SeededGenerator(seed: seed)
    var builder = OTLPPayloadBuilder()
    for trace in 0..<traces {
        let traceID = random.traceID()
        let root = random.next() | 1
        for index in 0..<spansPerTrace {
            var span = OTLPPayloadBuilder.Span(traceID: traceID, spanID: index == 0 ? root : random.next() | 1)
            span.parentSpanID = index == 0 ? 0 : root
            span.attributes = attributes(trace)
            builder.add(span, resource: [("service.name", .string(service(trace)))])
        }
    }
    let batch = try! SpanBatch.decodeProtobuf(builder.payload())
    return SpanNormalizer().normalize(batch)
}

/// True when every trace's spans share one decision.
func decisionsAreTraceConsistent(_ batch: NormalizedBatch, _ keep: [Bool]) -> Bool {
    var byTrace: [TraceID: Bool] = [:]
    for span in 0..<batch.count {
        let trace = batch.spans.traceIDs[span]
        if let previous = byTrace[trace], previous != keep[span] { return false }
        byTrace[trace] = keep[span]
    }
    return true
}

func keptTraceShare(_ batch: NormalizedBatch, _ keep: [Bool]) -> Double {
    var byTrace: [TraceID: Bool] = [:]
    for span in 0..<batch.count { byTrace[batch.spans.traceIDs[span]] = keep[span] }
    return Double(byTrace.values.filter { $0 }.count) / Double(byTrace.count)
}

struct SamplerTests {
    @Test func alwaysOnKeepsEverythingAndAlwaysOffNothing() {
        let batch = makeTraces(50)
        #expect(Sampler(.alwaysOn).decide(batch).allSatisfy { $0 })
        #expect(Sampler(.alwaysOff).decide(batch).allSatisfy { !$0 })
    }

    @Test(arguments: [0.01, 0.1, 0.25, 0.5, 0.9])
    func probabilisticRateIsWithinTolerance(rate: Double) {
        // 20,000 traces: the binomial standard deviation of the share is at most 0.0036; allow 4σ.
        let batch = makeTraces(20_000, spansPerTrace: 2)
        let keep = Sampler(.probabilistic(rate: rate)).decide(batch)
        #expect(decisionsAreTraceConsistent(batch, keep))
        #expect(abs(keptTraceShare(batch, keep) - rate) < 0.015)
    }

    @Test func probabilisticDecisionDependsOnlyOnTheTraceID() {
        // The same traces in another batch order, split over requests, get the same decisions.
        let batch = makeTraces(500)
        let first = Sampler(.probabilistic(rate: 0.3)).decide(batch)
        let second = Sampler(.probabilistic(rate: 0.3)).decide(batch)
        #expect(first == second)
        for span in 0..<batch.count {
            #expect(first[span] == Sampler.hashKeeps(batch.spans.traceIDs[span], rate: 0.3))
        }
    }

    @Test func fnv1aMatchesTheReferenceVector() {
        // FNV-1a 64 of 16 zero bytes, computed independently (Python: see the doc comment of fnv1a).
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for _ in 0..<16 { hash = (hash ^ 0) &* 0x100_0000_01B3 }
        #expect(SpanBatch.fnv1a(.zero) == hash)
        #expect(SpanBatch.fnv1a(TraceID(high: 1, low: 0)) != SpanBatch.fnv1a(TraceID(high: 0, low: 1)))
    }

    @Test func rateLimitingKeepsAboutTheConfiguredTracesPerSecond() {
        let now = Mutex<UInt64>(0)
        let sampler = Sampler(.rateLimiting(tracesPerSecond: 100), clock: { now.withLock { $0 } })
        var kept = 0
        // 10 simulated seconds, 1,000 new traces per second, in batches of 50 traces every 50 ms.
        for step in 0..<200 {
            now.withLock { $0 = UInt64(step) * 50_000_000 }
            let batch = makeTraces(50, spansPerTrace: 2, seed: UInt64(step + 1))
            let keep = sampler.decide(batch)
            #expect(decisionsAreTraceConsistent(batch, keep))
            kept += keep.filter { $0 }.count / 2
        }
        // 100/s for 10 s plus the initial burst of one second's worth.
        #expect(kept >= 1_000 && kept <= 1_100 + 5, "kept \(kept) traces")
    }

    @Test func rateLimitingRemembersTracesAcrossRequests() {
        let sampler = Sampler(.rateLimiting(tracesPerSecond: 1), clock: { 0 })
        let batch = makeTraces(5, spansPerTrace: 4)
        let first = sampler.decide(batch)
        // The same traces again (later spans of them): same decisions, even with no tokens left.
        #expect(sampler.decide(batch) == first)
        #expect(keptTraceShare(batch, first) == 0.2)
    }

    @Test func parentBasedChildrenFollowTheirRootAcrossBatches() {
        // Root decided by an attribute rule; children, arriving later without the attribute, follow.
        let sampler = Sampler(.parentBased(root: .attributeBased(defaultRate: 0, rules: [.init(key: "keep", value: "yes", rate: 1)])))
        var random = SeededGenerator(seed: 9)
        var roots = OTLPPayloadBuilder()
        var children = OTLPPayloadBuilder()
        var expected: [TraceID: Bool] = [:]
        for trace in 0..<200 {
            let traceID = random.traceID()
            let rootID = random.next() | 1
            var root = OTLPPayloadBuilder.Span(traceID: traceID, spanID: rootID)
            root.attributes = [("keep", .string(trace % 3 == 0 ? "yes" : "no"))]
            roots.add(root)
            expected[traceID] = trace % 3 == 0
            var child = OTLPPayloadBuilder.Span(traceID: traceID, spanID: random.next() | 1)
            child.parentSpanID = rootID
            children.add(child)
        }
        let rootBatch = SpanNormalizer().normalize(try! SpanBatch.decodeProtobuf(roots.payload()))
        let childBatch = SpanNormalizer().normalize(try! SpanBatch.decodeProtobuf(children.payload()))
        let rootKeep = sampler.decide(rootBatch)
        let childKeep = sampler.decide(childBatch)
        for span in 0..<rootBatch.count { #expect(rootKeep[span] == expected[rootBatch.spans.traceIDs[span]]) }
        for span in 0..<childBatch.count { #expect(childKeep[span] == expected[childBatch.spans.traceIDs[span]]) }
    }

    @Test func parentBasedDecidesRootsFirstWithinABatch() {
        // Children precede their root in the payload (end order), yet follow the root's decision.
        let sampler = Sampler(.parentBased(root: .attributeBased(defaultRate: 0, rules: [.init(key: "root", rate: 1)])))
        var random = SeededGenerator(seed: 3)
        var builder = OTLPPayloadBuilder()
        let traceID = random.traceID()
        var child = OTLPPayloadBuilder.Span(traceID: traceID, spanID: 2)
        child.parentSpanID = 1
        builder.add(child)
        var root = OTLPPayloadBuilder.Span(traceID: traceID, spanID: 1)
        root.attributes = [("root", .bool(true))]
        builder.add(root)
        let batch = SpanNormalizer().normalize(try! SpanBatch.decodeProtobuf(builder.payload()))
        #expect(sampler.decide(batch) == [true, true])
    }

    @Test func compositeUsesPerServiceRates() {
        let batch = makeTraces(10_000, spansPerTrace: 1, service: { $0 % 2 == 0 ? "chat-api" : "batch-jobs" })
        let keep = Sampler(.composite(defaultRate: 0.1, services: ["chat-api": 1.0])).decide(batch)
        var chat = (kept: 0, total: 0)
        var other = (kept: 0, total: 0)
        for span in 0..<batch.count {
            if batch.spans.string(batch.columns.service[span]) == "chat-api" {
                chat = (chat.kept + (keep[span] ? 1 : 0), chat.total + 1)
            } else {
                other = (other.kept + (keep[span] ? 1 : 0), other.total + 1)
            }
        }
        #expect(chat.kept == chat.total)
        #expect(abs(Double(other.kept) / Double(other.total) - 0.1) < 0.02)
    }

    @Test func attributeBasedFirstMatchingRuleWins() {
        let batch = makeTraces(6_000, spansPerTrace: 1, attributes: { trace in
            switch trace % 3 {
            case 0: [("error.type", .string("timeout")), ("gen_ai.request.model", .string("gpt-4o"))]
            case 1: [("gen_ai.request.model", .string("gpt-4o"))]
            default: [("gen_ai.request.model", .string("gpt-4o-mini"))]
            }
        })
        let sampler = Sampler(.attributeBased(defaultRate: 0, rules: [
            .init(key: "error.type", rate: 1),
            .init(key: "gen_ai.request.model", value: "gpt-4o", rate: 0.5),
        ]))
        let keep = sampler.decide(batch)
        var kept = [0, 0, 0]
        for span in 0..<batch.count where keep[span] { kept[span % 3] += 1 }
        #expect(kept[0] == 2_000)
        #expect(abs(Double(kept[1]) / 2_000 - 0.5) < 0.04)
        #expect(kept[2] == 0)
    }
}
