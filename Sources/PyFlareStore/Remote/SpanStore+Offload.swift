import CoreMetrics
import Logging
import NIOPosix
import PyFlareObjectStorage
public import PyFlareModel
import PyFlareWire

/// A step of moving a segment to the bucket, where a test may stop the process.
public enum OffloadStep: String, Sendable, CaseIterable {
    /// The file is read, nothing is uploaded yet.
    case beforeUpload = "before_upload"
    /// The object is in the bucket and verified; the index does not know it.
    case afterUpload = "after_upload"
    /// The index names the object; the local file is still there.
    case afterIndex = "after_index"
}

/// What one offload run moved.
public struct SegmentOffloadReport: Sendable, Equatable {
    public var segments = 0
    public var bytes = 0
    /// Segments a compaction replaced during their upload: their objects were deleted again.
    public var replacedMeanwhile = 0

    public init() {}
}

extension SpanStore {
    /// Whether this store has a bucket for old segments (`storage.remote`).
    public var hasRemoteTier: Bool { readers.remote != nil }

    /// Moves every local segment whose newest record is older than `storage.remote.after` to
    /// the bucket, oldest first: upload, verify (the ETag is the bytes' MD5, the object's size
    /// is the file's), record the key in the index, then remove the local file. A crash at any
    /// step leaves the segment readable from one place or the other: before the index names
    /// the object, the local file is what is read (and the object is written again next time);
    /// after, the bucket is, and recovery deletes a local copy left behind.
    ///
    /// A refused upload stops the run with its error; the segment stays local.
    public func offloadSegments(now: Int64 = UnixTime.nowNanoseconds(),
                                failpoint: (@Sendable (OffloadStep) -> Void)? = nil) async throws -> SegmentOffloadReport {
        var report = SegmentOffloadReport()
        guard let remote = readers.remote else { return report }
        let cutoff = now &- Int64(remote.settings.after.inNanoseconds)
        let due = try await index.catalog().filter { $0.remoteKey == nil && $0.maxTime < cutoff }.sorted { $0.maxTime < $1.maxTime }
        let dataDirectory = configuration.dataDirectory
        for segment in due {
            let path = dataDirectory + "/" + segment.path
            let bytes = try await threadPool.runIfActive { try StoreFile.readAll(path) }
            failpoint?(.beforeUpload)
            do {
                try await remote.client.put(segment.path, body: bytes)
                guard let stored = try await remote.client.head(segment.path), stored.bytes == bytes.count else {
                    throw StoreError(.io, "the bucket does not hold the \(bytes.count) bytes just uploaded", path: segment.path)
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(.io, "uploading the segment: \(error)", path: segment.path)
            }
            failpoint?(.afterUpload)
            guard try await index.markRemote(segment: segment.id, key: remote.key(of: segment.path)) else {
                try await remote.delete(segment.path)
                report.replacedMeanwhile += 1
                continue
            }
            failpoint?(.afterIndex)
            // Reads already running keep their open file; new ones go to the bucket.
            readers.evict([path])
            try await threadPool.runIfActive {
                try StoreDirectory.remove(path)
                try StoreDirectory.sync(dataDirectory + "/segments")
            }
            remote.metrics.uploads.increment()
            remote.metrics.uploadedBytes.increment(by: bytes.count)
            report.segments += 1
            report.bytes += bytes.count
            logger.info("moved a segment to the bucket", metadata: ["path": "\(segment.path)", "bytes": "\(bytes.count)"])
        }
        return report
    }
}
