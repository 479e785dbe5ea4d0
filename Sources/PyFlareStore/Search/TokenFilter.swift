/// A Bloom filter of the words of one block's spans (``SpanText``), written at seal time as
/// the block's `text_tokens` chunk, so a search skips every block that cannot hold its words.
///
/// Layout: probes (u8, its high bit set when the words are hashed by
/// ``TextTokens/hash(_:_:_:textCount:)``, clear for the older FNV-1a), log2 of the bit count
/// (u8), then the bits, little-endian by byte. About 8 bits a distinct word and 5 probes:
/// about 2 % of blocks without a word still read.
struct TokenFilter: Equatable {
    static let bitsPerWord = 8
    static let probes: UInt8 = 5
    /// 2^10 to 2^22 bits: 128 B to 512 KiB a block.
    static let log2Range: ClosedRange<UInt8> = 10...22
    private static let wordwiseFlag: UInt8 = 0x80

    /// How the filter's words were hashed.
    enum Hashing: Equatable {
        /// ``TextTokens/hash(_:_:_:textCount:)``: what seals and compactions write.
        case wordwise
        /// FNV-1a a byte at a time (``TextTokens/legacyHash(_:)``): filters written before 2026-12-08.
        case fnv1a
    }

    private(set) var log2Bits: UInt8
    private(set) var probes: UInt8
    private(set) var hashing: Hashing
    private(set) var bits: [UInt8]

    /// The filter of `words` (their hashes, each once, made as `hashing` says).
    init(words: borrowing DistinctHashes, hashing: Hashing = .wordwise) {
        var log2 = Self.log2Range.lowerBound
        while log2 < Self.log2Range.upperBound, 1 << Int(log2) < words.count * Self.bitsPerWord { log2 += 1 }
        log2Bits = log2
        probes = Self.probes
        self.hashing = hashing
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
        let probes = encoded.first.map { $0 & ~Self.wordwiseFlag } ?? 0
        guard encoded.count >= 2, Self.log2Range.contains(encoded[1]), probes > 0,
              encoded.count == 2 + (1 << Int(encoded[1])) / 8 else { return nil }
        self.probes = probes
        hashing = encoded[0] & Self.wordwiseFlag != 0 ? .wordwise : .fnv1a
        log2Bits = encoded[1]
        bits = Array(encoded[2...])
    }

    var encoded: [UInt8] { [hashing == .wordwise ? probes | Self.wordwiseFlag : probes, log2Bits] + bits }

    /// False only when some word of `words` is in no span of the block.
    func mayContain(_ words: [TextTokens.Word]) -> Bool {
        let mask = UInt64(1 << Int(log2Bits) - 1)
        for word in words {
            var present = true
            Self.forEachProbe(hashing == .wordwise ? word.hash : word.legacyHash, probes: probes, mask: mask) { bit in
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
        // `hash` is never 0 (``TextTokens/hash(_:_:_:textCount:)``), which marks an empty slot.
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
