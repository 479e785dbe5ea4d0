import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// The keys of recent seals: a span sent again is dropped while its seal is remembered, kept
/// once the seal is forgotten, and the forgotten keys do not pile up.
struct RecentSpansTests {
    /// A batch of spans with span ids `ids` (one trace).
    func batch(_ ids: [UInt64]) throws -> NormalizedBatch {
        var builder = OTLPPayloadBuilder()
        for id in ids { builder.add(OTLPPayloadBuilder.Span(traceID: TraceID(high: 1, low: 2), spanID: id)) }
        return SpanNormalizer().normalize(try SpanBatch.decodeProtobuf(builder.payload()))
    }

    func kept(_ recent: RecentSpans, _ ids: [UInt64]) throws -> [UInt64] {
        recent.removingDuplicates([try batch(ids)]).batches.flatMap { $0.spans.spanIDs }
    }

    /// A seal of the spans `ids` that `recent` does not drop, committed.
    func seal(_ recent: inout RecentSpans, _ ids: [UInt64]) throws {
        recent.remember(recent.removingDuplicates([try batch(ids)]).keys)
    }

    @Test func aResentSpanIsDroppedWhileItsSealIsRemembered() throws {
        var recent = RecentSpans(capacity: 100)
        let first = recent.removingDuplicates([try batch([1, 2, 2, 3])])
        #expect(first.removed == 1 && first.keys.count == 3)
        #expect(try kept(recent, [1, 4]) == [1, 4], "nothing is remembered before the seal commits")
        recent.remember(first.keys)
        #expect(try kept(recent, [1, 4, 3]) == [4])
    }

    @Test func theOldestSealsAreForgottenFirstAndTheirKeysDoNotPileUp() throws {
        var recent = RecentSpans(capacity: 100)
        // 40 seals of 50 keys: at most 100 keys (two seals) are remembered.
        for index in 0..<40 {
            try seal(&recent, (0..<50).map { UInt64(index * 50 + $0 + 1) })
            #expect(recent.heldKeys <= 100)
        }
        #expect(try kept(recent, [1, 1_900, 1_951, 2_000]) == [1, 1_900], "seal 37 is forgotten, 38 and 39 are not")
        // A key of a forgotten seal, sent again, is stored and remembered again.
        try seal(&recent, [1])
        #expect(try kept(recent, [1]).isEmpty)
        #expect(recent.heldKeys == 51)
        // Sixteen seals at most, however small.
        var small = RecentSpans(capacity: 1_000)
        for index in 0..<20 { try seal(&small, [UInt64(index + 1)]) }
        #expect(try kept(small, [4, 5, 20]) == [4])
    }

    @Test func forgottenKeysAreDropped() throws {
        var recent = RecentSpans(capacity: 4_000)
        for index in 0..<30 { try seal(&recent, (0..<1_000).map { UInt64(index * 1_000 + $0 + 1) }) }
        #expect(recent.heldKeys == 4_000)
    }
}
