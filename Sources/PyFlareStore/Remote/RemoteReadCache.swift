import Synchronization

/// Byte ranges of remote segments fetched before, kept on local disk up to a size, the least
/// recently used given up first.
///
/// Each range is a file `<segment name>@<offset>-<length>` (with `-end` when it runs to the end
/// of the object, which tells the object's size without asking) holding the bytes and their
/// CRC-32C. A range that fails its checksum is dropped and fetched again: the cache is never a
/// reason for a block to be reported corrupt. It outlives restarts; what a crash leaves half
/// written (a `.tmp-` file) is deleted at start.
final class RemoteReadCache: Sendable {
    struct Entry: Sendable {
        var offset: Int
        var length: Int
        var endsObject: Bool
        var lastUse: UInt64

        var range: Range<Int> { offset..<(offset + length) }
        func fileName(segment: String) -> String { "\(segment)@\(offset)-\(length)" + (endsObject ? "-end" : "") }
    }

    private struct State {
        var entries: [String: [Entry]] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    let directory: String
    let capacity: Int
    private let state = Mutex(State())

    init(directory: String, capacity: Int) throws(StoreError) {
        self.directory = directory
        self.capacity = capacity
        try StoreDirectory.create(directory)
        var found = State()
        for name in StoreDirectory.names(directory) {
            guard !name.hasPrefix(SegmentNaming.temporaryPrefix), let (segment, entry) = Self.parse(name) else {
                try StoreDirectory.remove(directory + "/" + name)
                continue
            }
            found.entries[segment, default: []].append(entry)
            found.bytes += entry.length
        }
        state.withLock { $0 = found }
    }

    var bytesCached: Int { state.withLock { $0.bytes } }

    /// The object's size, when a range running to its end is cached.
    func objectSize(of segment: String) -> Int? {
        state.withLock { $0.entries[segment]?.first(where: \.endsObject).map { $0.offset + $0.length } }
    }

    func contains(_ segment: String, _ range: Range<Int>) -> Bool {
        state.withLock { state in state.entries[segment]?.contains { $0.range.contains(range) } ?? false }
    }

    /// The bytes of `range` when a cached range holds them all and passes its checksum.
    func read(_ segment: String, _ range: Range<Int>) -> [UInt8]? {
        guard let entry = state.withLock({ state -> Entry? in
            guard let position = state.entries[segment]?.firstIndex(where: { $0.range.contains(range) }) else { return nil }
            state.clock += 1
            state.entries[segment]![position].lastUse = state.clock
            return state.entries[segment]![position]
        }) else { return nil }
        let path = directory + "/" + entry.fileName(segment: segment)
        guard let stored = try? StoreFile.readAll(path), stored.count == entry.length + 4 else {
            drop(segment, entry)
            return nil
        }
        let bytes = Array(stored.prefix(entry.length))
        let checksum = UInt32(stored[entry.length]) | UInt32(stored[entry.length + 1]) << 8
            | UInt32(stored[entry.length + 2]) << 16 | UInt32(stored[entry.length + 3]) << 24
        guard CRC32C.checksum(bytes) == checksum else {
            drop(segment, entry)
            return nil
        }
        return Array(bytes[(range.lowerBound - entry.offset)..<(range.upperBound - entry.offset)])
    }

    /// Keeps `bytes` (at `offset` of the object) and gives up the least recently used ranges
    /// beyond the capacity. Failing to write is not an error: the read has its bytes.
    func store(_ segment: String, offset: Int, bytes: [UInt8], endsObject: Bool) {
        guard bytes.count <= capacity else { return }
        var entry = Entry(offset: offset, length: bytes.count, endsObject: endsObject, lastUse: 0)
        let name = entry.fileName(segment: segment)
        var framed = bytes
        let checksum = CRC32C.checksum(bytes)
        for shift in stride(from: 0, to: 32, by: 8) { framed.append(UInt8(truncatingIfNeeded: checksum >> UInt32(shift))) }
        let temporary = directory + "/" + SegmentNaming.temporaryPrefix + name
        do {
            try StoreFile(path: temporary, writable: true, truncate: true).write(framed, at: 0)
            try StoreDirectory.rename(temporary, to: directory + "/" + name)
        } catch {
            try? StoreDirectory.remove(temporary)
            return
        }
        let evicted = state.withLock { state -> [(String, Entry)] in
            state.clock += 1
            entry.lastUse = state.clock
            if state.entries[segment]?.contains(where: { $0.offset == entry.offset && $0.length == entry.length }) == true { return [] }
            state.entries[segment, default: []].append(entry)
            state.bytes += entry.length
            var evicted: [(String, Entry)] = []
            while state.bytes > capacity {
                guard let (oldestSegment, position) = state.entries.flatMap({ segment, entries in entries.indices.map { (segment, $0) } })
                    .min(by: { state.entries[$0.0]![$0.1].lastUse < state.entries[$1.0]![$1.1].lastUse }) else { break }
                let old = state.entries[oldestSegment]!.remove(at: position)
                if state.entries[oldestSegment]!.isEmpty { state.entries[oldestSegment] = nil }
                state.bytes -= old.length
                evicted.append((oldestSegment, old))
            }
            return evicted
        }
        for (segment, old) in evicted { try? StoreDirectory.remove(directory + "/" + old.fileName(segment: segment)) }
    }

    /// Deletes every range of `segment` (its object is deleted).
    func forget(_ segment: String) {
        let entries = state.withLock { state -> [Entry] in
            let entries = state.entries.removeValue(forKey: segment) ?? []
            state.bytes -= entries.reduce(0) { $0 + $1.length }
            return entries
        }
        for entry in entries { try? StoreDirectory.remove(directory + "/" + entry.fileName(segment: segment)) }
    }

    private func drop(_ segment: String, _ entry: Entry) {
        state.withLock { state in
            guard let position = state.entries[segment]?.firstIndex(where: { $0.offset == entry.offset && $0.length == entry.length }) else { return }
            state.entries[segment]!.remove(at: position)
            state.bytes -= entry.length
        }
        try? StoreDirectory.remove(directory + "/" + entry.fileName(segment: segment))
    }

    /// `<segment>@<offset>-<length>[-end]`.
    private static func parse(_ name: String) -> (String, Entry)? {
        guard let at = name.lastIndex(of: "@") else { return nil }
        var fields = name[name.index(after: at)...].split(separator: "-")
        let endsObject = fields.last == "end"
        if endsObject { fields.removeLast() }
        guard fields.count == 2, let offset = Int(fields[0]), let length = Int(fields[1]) else { return nil }
        return (String(name[..<at]), Entry(offset: offset, length: length, endsObject: endsObject, lastUse: 0))
    }
}
