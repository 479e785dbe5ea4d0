/// Where normalized, sampled spans go when the batcher flushes them.
///
/// The batcher calls ``write(_:)`` from several workers at once; an implementation
/// serializes what needs serializing. ``close()`` is called once, after the last write.
public protocol SpanSink: Sendable {
    func write(_ batches: [NormalizedBatch]) async throws
    func close() async throws
}
