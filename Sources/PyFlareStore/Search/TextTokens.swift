/// The words free-text search matches: maximal runs of ASCII letters and digits, and of
/// bytes ≥ 0x80 (so a word in any script is one token), ASCII letters folded to lower case.
///
/// One definition serves the seal-time token filter, the check of each candidate span and
/// the query, so a word the filter says is absent really is.
enum TextTokens {
    /// Per byte: 0 for a separator, else the byte as it counts in a word (lowercased).
    static let fold: [UInt8] = (0...255).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt8(value) + 32
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), 0x80...0xFF: UInt8(value)
        default: 0
        }
    }

    /// Calls `body` with the hash (never 0) and the byte range of each word of `text`.
    @inline(__always)
    static func forEach(in text: UnsafeRawBufferPointer, _ body: (_ hash: UInt64, _ word: Range<Int>) -> Void) {
        fold.withUnsafeBufferPointer { fold in
            var hash = offsetBasis
            var start = -1
            for index in 0..<text.count {
                let folded = fold[Int(text[index])]
                if folded != 0 {
                    if start < 0 {
                        start = index
                        hash = offsetBasis
                    }
                    hash = (hash ^ UInt64(folded)) &* prime
                } else if start >= 0 {
                    body(hash == 0 ? 1 : hash, start..<index)
                    start = -1
                }
            }
            if start >= 0 { body(hash == 0 ? 1 : hash, start..<text.count) }
        }
    }

    /// The words of a query, as folded bytes with their hashes, each once.
    static func words(of query: String) -> [Word] {
        var words: [Word] = []
        var query = query
        query.withUTF8 { utf8 in
            let text = UnsafeRawBufferPointer(utf8)
            forEach(in: text) { hash, range in
                let bytes = range.map { fold[Int(text[$0])] }
                if !words.contains(where: { $0.bytes == bytes }) { words.append(Word(hash: hash, bytes: bytes)) }
            }
        }
        return words
    }

    /// Whether `word` of `text` is `expected` (already folded).
    @inline(__always)
    static func equals(_ text: UnsafeRawBufferPointer, _ word: Range<Int>, _ expected: [UInt8]) -> Bool {
        guard word.count == expected.count else { return false }
        for (offset, index) in word.enumerated() where fold[Int(text[index])] != expected[offset] { return false }
        return true
    }

    struct Word: Sendable, Equatable {
        var hash: UInt64
        var bytes: [UInt8]
    }

    // FNV-1a, 64 bits: one multiply a byte, and good enough spread for a Bloom filter.
    private static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3
}

/// The words a search for some text looks for, as the answer names them.
public enum TraceSearchWords {
    public static func of(_ text: String) -> [String] {
        TextTokens.words(of: text).map { String(decoding: $0.bytes, as: UTF8.self) }
    }
}

