extension SpanBatch {
    /// Keeps the spans whose `keep` flag is set. Rows of dropped spans stay in the
    /// shared tables unreferenced; the batch is short-lived, so compacting them is not worth it.
    public mutating func retain(_ keep: [Bool]) {
        precondition(keep.count == count, "mask length must equal the span count")
        traceIDs.retain(keep)
        spanIDs.retain(keep)
        parentSpanIDs.retain(keep)
        traceStates.retain(keep)
        flags.retain(keep)
        names.retain(keep)
        kinds.retain(keep)
        startTimes.retain(keep)
        endTimes.retain(keep)
        spanAttributes.retain(keep)
        droppedAttributeCounts.retain(keep)
        spanEvents.retain(keep)
        droppedEventCounts.retain(keep)
        spanLinks.retain(keep)
        droppedLinkCounts.retain(keep)
        statusCodes.retain(keep)
        statusMessages.retain(keep)
        scopeIndices.retain(keep)
    }

    /// FNV-1a (64-bit) of the trace id's 16 bytes in wire order: the sampling hash, so every
    /// span of a trace gets the same decision on every PyFlare instance.
    @inlinable
    public static func fnv1a(_ id: TraceID) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for index in 0..<16 {
            let half = index < 8 ? id.high : id.low
            hash ^= (half >> UInt64(56 - 8 * (index & 7))) & 0xFF
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

extension Array {
    /// Keeps the elements whose flag in `keep` is set, in order.
    public mutating func retain(_ keep: [Bool]) {
        var write = 0
        for read in indices where keep[read] {
            if write != read { self[write] = self[read] }
            write += 1
        }
        removeLast(count - write)
    }
}
