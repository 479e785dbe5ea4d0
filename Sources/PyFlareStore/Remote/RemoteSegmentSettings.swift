public import PyFlareObjectStorage

/// The object-storage tier of sealed segments (`storage.remote`): segments whose newest record
/// is older than ``after`` are uploaded to the bucket, verified, recorded in the index, and
/// then removed locally; reads fetch the byte ranges they need through a local cache of at
/// most ``cacheBytes``.
public struct RemoteSegmentSettings: Sendable, Equatable {
    public var bucket: S3Settings
    public var after: Duration
    public var cacheBytes: Int

    public init(bucket: S3Settings, after: Duration, cacheBytes: Int = 512 << 20) {
        self.bucket = bucket
        self.after = after
        self.cacheBytes = cacheBytes
    }
}
