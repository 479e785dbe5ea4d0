/// Where a segment's bytes are read from: its local file, or its object in a bucket once
/// the segment is remote. Reads block (run them on the store's threads).
protocol SegmentBytes: Sendable {
    var size: Int { get throws(StoreError) }
    /// `count` bytes at `offset`; fewer only at the end.
    func read(count: Int, at offset: Int) throws(StoreError) -> [UInt8]
    /// The ranges a block read is about to ask for, one by one: a remote segment fetches the
    /// ones it does not hold in as few requests as it can.
    func willRead(_ ranges: [Range<Int>]) throws(StoreError)
}

extension StoreFile: SegmentBytes {
    func willRead(_ ranges: [Range<Int>]) {}
}
