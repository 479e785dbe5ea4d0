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

    /// Calls `body` with the hash (never 0, ``hash(_:_:_:textCount:)``) and the byte range of each word of
    /// `text`.
    ///
    /// Word bytes are found eight at a time (``wordBits(_:)``) and each 64-byte stretch becomes a
    /// bit mask whose runs are the words, so the loop branches once a word rather than at every
    /// byte: a seal tokenizes every string of every span for the blocks' filters.
    @inline(__always)
    static func forEach(in text: UnsafeRawBufferPointer, _ body: (_ hash: UInt64, _ word: Range<Int>) -> Void) {
        guard let base = text.baseAddress else { return }
        let count = text.count
        var open = -1   // where a word that runs on past the current stretch began
        var stretch = 0
        while stretch < count {
            var bits: UInt64 = 0
            for lane in 0..<8 {
                let at = stretch + lane * 8
                guard at < count else { break }
                bits |= wordBits(load(base, at, count)) << UInt64(lane * 8)
            }
            var offset = 0
            while true {
                if open < 0 {
                    let rest = bits >> UInt64(offset)
                    if rest == 0 { break }
                    offset += rest.trailingZeroBitCount
                    open = stretch + offset
                }
                let separators = ~bits >> UInt64(offset)   // zeros shifted in: the word may run on
                if separators == 0 { break }
                offset += separators.trailingZeroBitCount
                body(hash(base, open, stretch + offset, textCount: count), open..<(stretch + offset))
                open = -1
            }
            stretch += 64
        }
        if open >= 0 { body(hash(base, open, count, textCount: count), open..<count) }
    }

    /// Eight bytes of `base` from `at`, little-endian; bytes past `count` read as 0 (a separator).
    @inline(__always)
    private static func load(_ base: UnsafeRawPointer, _ at: Int, _ count: Int) -> UInt64 {
        if at + 8 <= count { return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        var value: UInt64 = 0
        for index in 0..<(count - at) { value |= UInt64(base.load(fromByteOffset: at + index, as: UInt8.self)) << UInt64(index * 8) }
        return value
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// One bit per byte of `chunk` (bit i for byte i), set where the byte belongs to a word as
    /// ``fold`` says: an ASCII letter or digit, or any byte ≥ 0x80.
    @inline(__always)
    static func wordBits(_ chunk: UInt64) -> UInt64 {
        let low = chunk & ~highs                 // each byte's low seven bits: no carries below
        let folded = low | (ones &* 0x20)        // ASCII letters to lower case
        let letter = (folded &+ ones &* (0x80 - 0x61)) & ~(folded &+ ones &* (0x80 - 0x7B))
        let digit = (low &+ ones &* (0x80 - 0x30)) & ~(low &+ ones &* (0x80 - 0x3A))
        let word = (chunk | letter | digit) & highs
        // Gathers the eight high bits into the low byte (each product term lands on its own bit).
        return ((word >> 7) &* 0x0102_0408_1020_4080) >> 56
    }

    /// `chunk` with its ASCII capitals lowered: the bytes ``fold`` gives for a word's bytes.
    @inline(__always)
    private static func folded(_ chunk: UInt64) -> UInt64 {
        let low = chunk & ~highs
        let capital = (low &+ ones &* (0x80 - 0x41)) & ~(low &+ ones &* (0x80 - 0x5B)) & ~chunk & highs
        return chunk | capital >> 2
    }

    /// The hash of the word `start..<end` of `base`, folded, eight bytes a step; never 0.
    @inline(__always)
    static func hash(_ base: UnsafeRawPointer, _ start: Int, _ end: Int, textCount: Int) -> UInt64 {
        var hash = seed ^ UInt64(end - start) &* multiplier
        var at = start
        while at < end {
            var chunk = load(base, at, textCount)
            let remaining = end - at
            if remaining < 8 { chunk &= (1 << UInt64(remaining * 8)) - 1 }
            hash = (hash ^ folded(chunk)) &* multiplier
            hash ^= hash >> 29
            at += 8
        }
        // murmur3's finalizer: the filter's probes take both halves of the hash.
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash &*= 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return hash == 0 ? 1 : hash
    }

    /// The words of a query, as folded bytes with their hashes, each once.
    static func words(of query: String) -> [Word] {
        var words: [Word] = []
        var query = query
        query.withUTF8 { utf8 in
            let text = UnsafeRawBufferPointer(utf8)
            forEach(in: text) { hash, range in
                let bytes = range.map { fold[Int(text[$0])] }
                if !words.contains(where: { $0.bytes == bytes }) {
                    words.append(Word(hash: hash, legacyHash: legacyHash(bytes), bytes: bytes))
                }
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
        /// ``hash(_:_:_:textCount:)``, as filters written since 2026-12-08 hold words.
        var hash: UInt64
        /// FNV-1a of the folded bytes, as older filters hold them (``TokenFilter/Hashing/fnv1a``).
        var legacyHash: UInt64
        var bytes: [UInt8]
    }

    private static let seed: UInt64 = 0x243f_6a88_85a3_08d3
    private static let multiplier: UInt64 = 0x9e37_79b9_7f4a_7c15

    /// FNV-1a, 64 bits, of a word's folded bytes: the hash of filters written before the
    /// word-at-a-time one, which segments not yet compacted still hold.
    static func legacyHash(_ folded: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in folded { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash == 0 ? 1 : hash
    }
}

/// The words a search for some text looks for, as the answer names them.
public enum TraceSearchWords {
    public static func of(_ text: String) -> [String] {
        TextTokens.words(of: text).map { String(decoding: $0.bytes, as: UTF8.self) }
    }
}

