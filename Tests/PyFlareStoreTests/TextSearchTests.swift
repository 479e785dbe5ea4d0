import Testing
import PyFlareModel
import PyFlareTesting
import PyFlareWire
@testable import PyFlareStore

/// Free-text search: the words it matches, the token filter a seal writes per block, and a
/// segment's blocks searched through them.
struct TextSearchTests {
    let pricing = PricingTable.builtIn()

    func words(_ text: String) -> [String] { TraceSearchWords.of(text) }

    @Test func wordsAreRunsOfLettersAndDigitsFoldedToLowerCase() {
        #expect(words("Timeout after 30s: gateway-17 FAILED!") == ["timeout", "after", "30s", "gateway", "17", "failed"])
        #expect(words("naïve Café ÜBER") == ["naïve", "café", "Über"])  // bytes ≥ 0x80 are kept as sent
        #expect(words("a a A") == ["a"])
        #expect(words(" --- ! ").isEmpty)
    }

    @Test func theFilterHoldsEveryWordItWasGivenAndFewOthers() throws {
        var hashes = DistinctHashes(capacity: 4)
        let present = (0..<5_000).map { "word\($0)" }
        for word in present { TextTokens.words(of: word).forEach { hashes.insert($0.hash) } }
        #expect(hashes.count == present.count)
        let filter = TokenFilter(words: hashes)
        for word in present { #expect(filter.mayContain(TextTokens.words(of: word))) }
        let falsePositives = (0..<10_000).filter { filter.mayContain(TextTokens.words(of: "absent\($0)")) }.count
        #expect(falsePositives < 500, "\(falsePositives) of 10000 absent words pass")
        let decoded = try #require(filter.encoded.withUnsafeBytes { TokenFilter(encoded: $0) })
        #expect(decoded == filter)
        #expect([UInt8]([5, 40, 0]).withUnsafeBytes { TokenFilter(encoded: $0) } == nil)
        #expect(Array(filter.encoded.dropLast()).withUnsafeBytes { TokenFilter(encoded: $0) } == nil)
    }

    @Test func aSegmentsBlocksAreSkippedOrSearchedSpanBySpan() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var spans: [PSpan] = []
        for index in 0..<40 {
            let text = index == 33 ? "the carrier quasar timed out" : "an ordinary answer \(index)"
            spans.append(PSpan(traceID: .test(UInt64(index) + 1), spanID: 0x100 + UInt64(index), name: "call \(index)",
                               start: baseTime + UInt64(index) * 1_000, end: baseTime + UInt64(index) * 1_000 + 500,
                               attributes: [("gen_ai.output.messages", .array([.keyValueList([("content", .string(text))])]))],
                               events: index == 7 ? [PEvent(time: baseTime, name: "exception",
                                                            attributes: [("exception.message", .string("Disk Nebula full"))])] : []))
        }
        let batch = try normalized([PResource(attributes: [("service.name", .string("search"))], scopes: [PScope(name: "s", spans: spans)])])
        let built = SegmentWriter(blockRows: 8, pricing: pricing).build([batch], walSequences: 1...1)
        let path = directory.path + "/search.seg"
        try writeFile(path, built.bytes)
        let reader = try SegmentReader(path: path)
        func search(_ text: String) throws -> (read: Int, found: [TraceID]) {
            var read = 0, found: [TraceID] = []
            for block in reader.footer.blocks.indices {
                guard let spans = try reader.spans(holding: TextTokens.words(of: text), block: block, pricing: pricing) else { continue }
                read += 1
                found += spans.map(\.traceID)
            }
            return (read, found)
        }
        #expect(reader.footer.blocks.count == 5)
        let quasar = try search("QUASAR timed")
        #expect(quasar.found == [.test(34)])
        #expect(quasar.read <= 2, "the filters of the other blocks lack the word")
        #expect(try search("nebula").found == [.test(8)])       // an event's attribute
        #expect(try search("call 12").found == [.test(13)])     // the span's name
        #expect(try search("quasar nebula").found.isEmpty)      // every word, in one span
        #expect(try search("quas").found.isEmpty)               // words, not substrings
        #expect(try search("ordinary").found.count == 39)
    }
}
