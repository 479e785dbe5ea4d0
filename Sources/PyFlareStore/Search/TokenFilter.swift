/// A Bloom filter of the words of one block's spans (``SpanText``), written at seal time as
/// the block's `text_tokens` chunk, so a search skips every block that cannot hold its words.
///
/// Layout: probes (u8), log2 of the bit count (u8), then the bits, little-endian by byte.
/// About 8 bits a distinct word and 5 probes: about 2 % of blocks without a word still read.
struct TokenFilter: Equatable {
    static let bitsPerWord = 8
    static let probes: UInt8 = 5
    /// 2^10 to 2^22 bits: 128 B to 512 KiB a block.
    static let log2Range: ClosedRange<UInt8> = 10...22

    private(set) var log2Bits: UInt8
    private(set) var probes: UInt8
    private(set) var bits: [UInt8]

    /// The filter of `words` (their hashes, each once).
    init(words: borrowing DistinctHashes) {
        var log2 = Self.log2Range.lowerBound
        while log2 < Self.log2Range.upperBound, 1 << Int(log2) < words.count * Self.bitsPerWord { log2 += 1 }
        log2Bits = log2
        probes = Self.probes
        bits = [UInt8](repeating: 0, count: (1 << Int(log2)) / 8)
        let mask = UInt64(1 << Int(log2) - 1)
        bits.withUnsafeMutableBufferPointer { bits in
            words.forEach { hash in
                Self.forEachProbe(hash, probes: Self.probes, mask: mask) { bit in bits[Int(bit >> 3)] |= 1 << (bit & 7) }
            }
        }
    }

    /// Reads a chunk; nil when it is not a filter this version knows.
    init?(encoded: UnsafeRawBufferPointer) {
        guard encoded.count >= 2, Self.log2Range.contains(encoded[1]), encoded[0] > 0,
              encoded.count == 2 + (1 << Int(encoded[1])) / 8 else { return nil }
        probes = encoded[0]
        log2Bits = encoded[1]
        bits = Array(encoded[2...])
    }

    var encoded: [UInt8] { [probes, log2Bits] + bits }

    /// False only when some word of `words` is in no span of the block.
    func mayContain(_ words: [TextTokens.Word]) -> Bool {
        let mask = UInt64(1 << Int(log2Bits) - 1)
        for word in words {
            var present = true
            Self.forEachProbe(word.hash, probes: probes, mask: mask) { bit in
                if bits[Int(bit >> 3)] & (1 << (bit & 7)) == 0 { present = false }
            }
            if !present { return false }
        }
        return true
    }

    /// Double hashing (Kirsch–Mitzenmacher): probe i is h1 + i·h2.
    @inline(__always)
    private static func forEachProbe(_ hash: UInt64, probes: UInt8, mask: UInt64, _ body: (UInt64) -> Void) {
        let first = hash & 0xFFFF_FFFF, step = (hash >> 32) | 1
        for probe in 0..<UInt64(probes) { body((first &+ probe &* step) & mask) }
    }
}

/// A set of 64-bit word hashes, open addressing: a block's distinct words are counted before
/// its filter is sized, at a few nanoseconds a word (a seal inserts every word of every span).
struct DistinctHashes: ~Copyable {
    private var slots: UnsafeMutableBufferPointer<UInt64>
    private(set) var count = 0

    init(capacity: Int = 1 << 12) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0)
    }

    deinit { slots.deallocate() }

    @inline(__always)
    mutating func insert(_ hash: UInt64) {
        // `hash` is never 0 (``TextTokens/forEach(in:_:)``), which marks an empty slot.
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: hash ^ (hash >> 29)) & mask
        while true {
            let slot = slots[index]
            if slot == hash { return }
            if slot == 0 { break }
            index = (index + 1) & mask
        }
        slots[index] = hash
        count += 1
        if count * 2 > slots.count { grow() }
    }

    func forEach(_ body: (UInt64) -> Void) {
        for slot in slots where slot != 0 { body(slot) }
    }

    private mutating func grow() {
        let old = slots
        slots = .allocate(capacity: old.count * 2)
        slots.initialize(repeating: 0)
        count = 0
        for slot in old where slot != 0 { insert(slot) }
        old.deallocate()
    }
}
