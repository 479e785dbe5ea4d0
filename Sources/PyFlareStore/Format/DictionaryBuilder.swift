/// Builds a `dictionary`-encoded column: distinct non-empty byte strings plus one index per row.
struct DictionaryBuilder {
    /// The distinct entries' bytes back to back; entry i is `storage[starts[i]..<starts[i + 1]]`.
    private(set) var storage: [UInt8] = []
    private(set) var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    /// Open addressing: entry index + 1, or 0 for a free slot.
    private var slots = [Int32](repeating: 0, count: 64)
    private var indices: ByteWriter
    private var empties = 0
    /// The last (batch, ref) looked up: rows of one batch often share a string.
    private var lastSource: (batch: UInt32, ref: UInt64, code: UInt64) = (.max, 0, 0)

    init(rows: Int) {
        indices = ByteWriter(capacity: rows)
    }

    var entryCount: Int { starts.count - 1 }

    func entry(_ index: Int) -> ArraySlice<UInt8> { storage[starts[index]..<starts[index + 1]] }

    /// Adds a row holding `bytes`; `source` identifies the string within its batch, so a
    /// repeat of the same reference costs no hashing.
    @inline(__always)
    mutating func add(_ bytes: UnsafeRawBufferPointer, source: (batch: UInt32, ref: UInt64)? = nil) {
        if let source, source.batch == lastSource.batch, source.ref == lastSource.ref {
            indices.varint(lastSource.code)
            if lastSource.code == 0 { empties += 1 }
            return
        }
        let code: UInt64 = bytes.isEmpty ? 0 : UInt64(lookUpOrInsert(bytes)) + 1
        if let source { lastSource = (source.batch, source.ref, code) }
        indices.varint(code)
        if code == 0 { empties += 1 }
    }

    /// The code `bytes` has (or gets) in this dictionary without adding a row: 0 when empty,
    /// else entry + 1. Serves as an interner of byte strings.
    mutating func code(of bytes: UnsafeRawBufferPointer) -> Int {
        bytes.isEmpty ? 0 : lookUpOrInsert(bytes) + 1
    }

    private mutating func lookUpOrInsert(_ bytes: UnsafeRawBufferPointer) -> Int {
        let hash = Self.hash(bytes)
        var mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 {
            let index = Int(slots[slot]) - 1
            if hashes[index] == hash, equals(index, bytes) { return index }
            slot = (slot + 1) & mask
        }
        let index = entryCount
        storage.append(contentsOf: bytes)
        starts.append(storage.count)
        hashes.append(hash)
        slots[slot] = Int32(index + 1)
        if entryCount * 2 > slots.count {
            slots = [Int32](repeating: 0, count: slots.count * 2)
            mask = slots.count - 1
            for (entry, hash) in hashes.enumerated() {
                var slot = Int(truncatingIfNeeded: hash) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(entry + 1)
            }
        }
        return index
    }

    private func equals(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let start = starts[index]
        guard starts[index + 1] - start == bytes.count else { return false }
        if bytes.isEmpty { return true }
        return storage.withUnsafeBytes { memcmp($0.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0 }
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var index = 0
        // 8 bytes at a time, then the tail: FNV-style mixing is plenty for a per-block table.
        while bytes.count - index >= 8 {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* 0x100_0000_01B3
            hash ^= hash >> 29
            index += 8
        }
        while index < bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x100_0000_01B3
            index += 1
        }
        return hash ^ (hash >> 32)
    }

    /// The chunk: entry count, entries (length-prefixed), then the row indices.
    func finish() -> [UInt8] {
        var chunk = ByteWriter(capacity: storage.count + indices.count + 2 * entryCount + 8)
        chunk.varint(entryCount)
        storage.withUnsafeBytes { raw in
            for index in 0..<entryCount {
                chunk.lengthPrefixed(UnsafeRawBufferPointer(rebasing: raw[starts[index]..<starts[index + 1]]))
            }
        }
        chunk.append(indices.bytes)
        return chunk.bytes
    }

    /// Empty rows, and the least and greatest entries when they are short enough to keep.
    var stats: ColumnStats {
        guard entryCount > 0 else { return ColumnStats(nulls: empties) }
        let entries = (0..<entryCount).map { entry($0) }
        let low = entries.min { $0.lexicographicallyPrecedes($1) }!, high = entries.max { $0.lexicographicallyPrecedes($1) }!
        let limit = 64
        return ColumnStats(nulls: empties, min: low.count <= limit ? Array(low) : [], max: high.count <= limit ? Array(high) : [])
    }

    /// The entries as strings, sorted: a block's set of services or models.
    func sortedStrings() -> [String] {
        (0..<entryCount).map { String(decoding: entry($0), as: UTF8.self) }.sorted()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
