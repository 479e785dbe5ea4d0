import CoreMetrics
import PyFlareObjectStorage

/// The store's bucket: where remote segments are read from (ranged GETs through the local
/// ``RemoteReadCache``), and where the offload writes and retention deletes them.
///
/// A segment's object is named after its path in the data directory (`segments/<name>`) under
/// the bucket's prefix.
package final class RemoteSegments: Sendable {
    let settings: RemoteSegmentSettings
    let client: S3Client
    let cache: RemoteReadCache
    let dataDirectory: String
    let metrics = RemoteMetrics()

    init(settings: RemoteSegmentSettings, dataDirectory: String) throws(StoreError) {
        self.settings = settings
        self.dataDirectory = dataDirectory
        client = S3Client(settings: settings.bucket)
        cache = try RemoteReadCache(directory: dataDirectory + "/remote-cache", capacity: settings.cacheBytes)
    }

    /// The reader of the remote segment at `path` (under the data directory).
    func reader(path: String) throws(StoreError) -> SegmentReader {
        let relativePath = path.hasPrefix(dataDirectory + "/") ? String(path.dropFirst(dataDirectory.count + 1)) : path
        return try SegmentReader(path: path, bytes: RemoteSegmentFile(name: relativePath, remote: self))
    }

    /// The object's key of the segment at `relativePath`, as the index records it.
    func key(of relativePath: String) -> String { client.key(relativePath) }

    /// Deletes the object of a segment the index no longer has, and its cached ranges.
    func delete(_ relativePath: String) async throws(StoreError) {
        do {
            try await client.delete(relativePath)
        } catch {
            throw StoreError(.io, "\(error)", path: relativePath)
        }
        cache.forget(Self.cacheName(relativePath))
    }

    static func cacheName(_ relativePath: String) -> String {
        String(relativePath.split(separator: "/").last ?? Substring(relativePath))
    }
}

/// Counters of reads from the bucket.
struct RemoteMetrics: Sendable {
    let fetches = Counter(label: "pyflare_remote_segment_fetches_total")
    let fetchedBytes = Counter(label: "pyflare_remote_segment_fetched_bytes_total")
    let cacheHits = Counter(label: "pyflare_remote_segment_cache_hits_total")
    let uploads = Counter(label: "pyflare_remote_segment_uploads_total")
    let uploadedBytes = Counter(label: "pyflare_remote_segment_uploaded_bytes_total")
}

/// The bytes of one remote segment: ranged GETs, each range kept in the cache.
final class RemoteSegmentFile: SegmentBytes {
    /// What a reader asks for first (trailer and footer) comes in one request of this much of
    /// the object's end.
    static let tailBytes = 256 << 10
    /// Chunks of one block read this close together are fetched in one request…
    static let mergeGap = 256 << 10
    /// …of at most this much.
    static let maxRequestBytes = 16 << 20

    let name: String
    let cacheName: String
    let remote: RemoteSegments
    let objectSize: Int

    init(name: String, remote: RemoteSegments) throws(StoreError) {
        self.name = name
        self.remote = remote
        cacheName = RemoteSegments.cacheName(name)
        if let size = remote.cache.objectSize(of: cacheName) {
            objectSize = size
        } else {
            let tail = try Self.fetch(name, .last(Self.tailBytes), remote: remote)
            remote.cache.store(cacheName, offset: tail.offset, bytes: tail.bytes, endsObject: true)
            objectSize = tail.objectSize
        }
    }

    var size: Int { objectSize }

    func read(count: Int, at offset: Int) throws(StoreError) -> [UInt8] {
        let range = offset..<min(offset + count, objectSize)
        guard !range.isEmpty else { return [] }
        if let bytes = remote.cache.read(cacheName, range) {
            remote.metrics.cacheHits.increment()
            return bytes
        }
        let fetched = try Self.fetch(name, .bytes(range), remote: remote)
        remote.cache.store(cacheName, offset: range.lowerBound, bytes: fetched.bytes, endsObject: range.upperBound == objectSize)
        return fetched.bytes
    }

    func willRead(_ ranges: [Range<Int>]) throws(StoreError) {
        let missing = ranges.filter { !$0.isEmpty && !remote.cache.contains(cacheName, $0) }.sorted { $0.lowerBound < $1.lowerBound }
        var groups: [Range<Int>] = []
        for range in missing {
            if let last = groups.last, range.lowerBound - last.upperBound <= Self.mergeGap,
               max(last.upperBound, range.upperBound) - last.lowerBound <= Self.maxRequestBytes {
                groups[groups.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                groups.append(range)
            }
        }
        for group in groups {
            let range = group.lowerBound..<min(group.upperBound, objectSize)
            guard !range.isEmpty else { continue }
            let fetched = try Self.fetch(name, .bytes(range), remote: remote)
            remote.cache.store(cacheName, offset: range.lowerBound, bytes: fetched.bytes, endsObject: range.upperBound == objectSize)
        }
    }

    private static func fetch(_ name: String, _ range: ObjectRange, remote: RemoteSegments) throws(StoreError) -> ObjectBytes {
        let fetched: ObjectBytes?
        do {
            fetched = try remote.client.getBlocking(name, range)
        } catch {
            throw StoreError(.io, "reading the remote segment: \(error)", path: name)
        }
        guard let fetched else {
            throw StoreError(.io, "the remote segment is not in the bucket (\(remote.client.key(name)))", path: name)
        }
        if case .bytes(let wanted) = range, fetched.bytes.count != wanted.count {
            throw StoreError(.io, "the bucket returned \(fetched.bytes.count) bytes of \(wanted.count) asked for", path: name)
        }
        remote.metrics.fetches.increment()
        remote.metrics.fetchedBytes.increment(by: fetched.bytes.count)
        return fetched
    }
}
