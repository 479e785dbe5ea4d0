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

    /// The words of `text` by ``TextTokens/fold``, a byte at a time: what the word-at-a-time
    /// tokenizer must find.
    func referenceWords(_ text: [UInt8]) -> [(range: Range<Int>, folded: [UInt8])] {
        var words: [(range: Range<Int>, folded: [UInt8])] = []
        var start: Int?
        for index in 0...text.count {
            let isWord = index < text.count && TextTokens.fold[Int(text[index])] != 0
            if isWord, start == nil { start = index }
            if !isWord, let begun = start {
                words.append((begun..<index, text[begun..<index].map { TextTokens.fold[Int($0)] }))
                start = nil
            }
        }
        return words
    }

    @Test func eightBytesAtATimeFindTheWordsAByteAtATimeDoes() {
        for value in 0...255 {
            for position in 0..<8 {
                let chunk = UInt64(value) << UInt64(position * 8) | (position == 0 ? 0 : 0x2D)   // '-' beside it
                let expected: UInt64 = TextTokens.fold[value] != 0 ? 1 << UInt64(position) : 0
                #expect(TextTokens.wordBits(chunk) == expected, "byte \(value) at \(position)")
            }
        }
        var random = SeededGenerator(seed: 5)
        let alphabet = Array("aZ09 -_.\n\"é".utf8) + [0x00, 0x7F, 0xFF, 0x40, 0x5B, 0x60, 0x7B]
        var hashes: [[UInt8]: UInt64] = [:]
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 300, 1_000] {
            for _ in 0..<20 {
                // Runs of word bytes of every length, long ones included, so words cross the 64-byte stretches.
                let text = (0..<length).map { _ in
                    random.next() % 4 == 0 ? alphabet[Int(random.next() % UInt64(alphabet.count))] : UInt8(ascii: "A") + UInt8(random.next() % 3)
                }
                var found: [(range: Range<Int>, hash: UInt64)] = []
                text.withUnsafeBytes { bytes in TextTokens.forEach(in: bytes) { hash, word in found.append((word, hash)) } }
                let expected = referenceWords(text)
                #expect(found.map(\.range) == expected.map(\.range), "\(text)")
                // One word, one hash, whatever its case or place.
                for (word, reference) in zip(found, expected) {
                    #expect(hashes[reference.folded, default: word.hash] == word.hash)
                    hashes[reference.folded] = word.hash
                }
            }
        }
        let cases = TextTokens.words(of: "QuasarQuasarQuasar quasarquasarquasar QUASARQUASARQUASAR")
        #expect(cases.count == 1)
        #expect(Set(hashes.values).count == hashes.count, "distinct words hash apart")
    }

    @Test func aFilterWrittenWithTheOlderHashStillFindsItsWords() throws {
        var hashes = DistinctHashes(capacity: 4)
        let present = (0..<2_000).map { "older\($0)" }
        for word in present { TextTokens.words(of: word).forEach { hashes.insert($0.legacyHash) } }
        let written = TokenFilter(words: hashes, hashing: .fnv1a).encoded
        #expect(written[0] == TokenFilter.probes)   // as filters were written before the flag
        let filter = try #require(written.withUnsafeBytes { TokenFilter(encoded: $0) })
        #expect(filter.hashing == .fnv1a)
        for word in present { #expect(filter.mayContain(TextTokens.words(of: word))) }
        let falsePositives = (0..<10_000).filter { filter.mayContain(TextTokens.words(of: "absent\($0)")) }.count
        #expect(falsePositives < 500)
        // FNV-1a 64 of "timeout", as the filters of older segments hold it (Python's reference computation).
        #expect(TextTokens.words(of: "Timeout")[0].legacyHash == 0x6082_7e54_9de6_5488)
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
        #expect(decoded == filter && decoded.hashing == .wordwise)
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
