import Foundation
import PyFlareTesting
import Testing
@testable import PyFlareStore

/// The local cache of byte ranges read from remote segments: bounded in bytes, kept across a
/// restart, and never trusted past its checksum.
struct RemoteReadCacheTests {
    func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed } }

    @Test func rangesAreServedFromWithinWhatWasStored() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let cache = try RemoteReadCache(directory: directory.path + "/cache", capacity: 1 << 20)
        let stored = bytes(1_000, seed: 1)
        cache.store("a.seg", offset: 4_000, bytes: stored, endsObject: true)
        #expect(cache.read("a.seg", 4_100..<4_200) == Array(stored[100..<200]))
        #expect(cache.read("a.seg", 3_999..<4_100) == nil, "starts before the range")
        #expect(cache.read("b.seg", 4_100..<4_200) == nil, "another segment")
        #expect(cache.objectSize(of: "a.seg") == 5_000, "a range to the end tells the size")
        #expect(cache.objectSize(of: "b.seg") == nil)
    }

    @Test func aDamagedRangeIsDroppedNotServed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let cache = try RemoteReadCache(directory: directory.path + "/cache", capacity: 1 << 20)
        cache.store("a.seg", offset: 0, bytes: bytes(500, seed: 2), endsObject: false)
        let file = directory.path + "/cache/a.seg@0-500"
        var raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        raw[10] ^= 0x40
        try Data(raw).write(to: URL(fileURLWithPath: file))
        #expect(cache.read("a.seg", 0..<20) == nil)
        #expect(!FileManager.default.fileExists(atPath: file), "the damaged file is deleted")
        #expect(cache.bytesCached == 0)
    }

    @Test func theLeastRecentlyUsedRangesGoPastTheCapacity() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let cache = try RemoteReadCache(directory: directory.path + "/cache", capacity: 3_000)
        for (index, name) in ["a", "b", "c"].enumerated() {
            cache.store(name + ".seg", offset: 0, bytes: bytes(1_000, seed: UInt8(index)), endsObject: false)
        }
        _ = cache.read("a.seg", 0..<10)  // b is now the least recently used
        cache.store("d.seg", offset: 0, bytes: bytes(1_000, seed: 9), endsObject: false)
        #expect(cache.bytesCached == 3_000)
        #expect(!cache.contains("b.seg", 0..<10))
        #expect(cache.contains("a.seg", 0..<10) && cache.contains("c.seg", 0..<10) && cache.contains("d.seg", 0..<10))
        #expect(StoreDirectory.names(directory.path + "/cache").count == 3)
    }

    @Test func aRestartKeepsTheRangesAndDeletesHalfWrittenOnes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/cache"
        let stored = bytes(700, seed: 3)
        try RemoteReadCache(directory: path, capacity: 1 << 20).store("a.seg", offset: 100, bytes: stored, endsObject: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path + "/" + SegmentNaming.temporaryPrefix + "a.seg@0-3"))
        let reopened = try RemoteReadCache(directory: path, capacity: 1 << 20)
        #expect(reopened.read("a.seg", 100..<800) == stored)
        #expect(reopened.objectSize(of: "a.seg") == 800)
        #expect(reopened.bytesCached == 700)
        #expect(StoreDirectory.names(path) == ["a.seg@100-700-end"])
    }

    @Test func forgettingASegmentDeletesItsRanges() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let cache = try RemoteReadCache(directory: directory.path + "/cache", capacity: 1 << 20)
        cache.store("a.seg", offset: 0, bytes: bytes(10, seed: 4), endsObject: false)
        cache.store("a.seg", offset: 50, bytes: bytes(10, seed: 5), endsObject: true)
        cache.store("b.seg", offset: 0, bytes: bytes(10, seed: 6), endsObject: false)
        cache.forget("a.seg")
        #expect(StoreDirectory.names(directory.path + "/cache") == ["b.seg@0-10"])
        #expect(cache.bytesCached == 10)
    }
}
