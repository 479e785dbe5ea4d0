/// An `ExportTraceServiceRequest` cut into one request per trace, with every span, resource
/// and scope copied byte for byte as received: what the Kafka exporter produces, keyed by
/// trace id so that a trace stays on one partition.
public enum TraceRequestSplit {
    public struct Piece: Sendable {
        public var traceID: TraceID
        /// The trace id's 16 bytes as on the wire: the message key.
        public var key: [UInt8]
        public var request: [UInt8]
    }

    /// The requests of each trace of `request`, in the order traces first appear, holding only
    /// the spans whose ids are in `kept` (every span when nil: a sampler may have dropped some).
    public static func byTrace(_ request: [UInt8], keeping kept: Set<UInt64>? = nil) throws -> [Piece] {
        // Resources and scopes are the byte ranges of their fields other than their children.
        struct Scope { var fields: [Range<Int>]; var spans: [(range: Range<Int>, trace: Int)] }
        struct Resource { var fields: [Range<Int>]; var scopes: [Scope] }
        var resources: [Resource] = []
        var traces: [TraceID: Int] = [:]
        var order: [(TraceID, [UInt8])] = []
        try request.withUnsafeBytes { (base: UnsafeRawBufferPointer) throws in
            var top = ProtoReader(base, start: 0, end: base.count)
            while !top.isAtEnd {
                let (field, wireType) = try top.readTag()
                guard field == 1, wireType == .lengthDelimited else { try top.skip(wireType); continue }
                var resourceReader = top.child(try top.readLengthDelimited())
                var resource = Resource(fields: [], scopes: [])
                while !resourceReader.isAtEnd {
                    let start = resourceReader.position
                    let (field, wireType) = try resourceReader.readTag()
                    guard field == 2, wireType == .lengthDelimited else {
                        try resourceReader.skip(wireType)
                        resource.fields.append(start..<resourceReader.position)
                        continue
                    }
                    var scopeReader = resourceReader.child(try resourceReader.readLengthDelimited())
                    var scope = Scope(fields: [], spans: [])
                    while !scopeReader.isAtEnd {
                        let start = scopeReader.position
                        let (field, wireType) = try scopeReader.readTag()
                        guard field == 2, wireType == .lengthDelimited else {
                            try scopeReader.skip(wireType)
                            scope.fields.append(start..<scopeReader.position)
                            continue
                        }
                        let span = try scopeReader.readLengthDelimited()
                        // A span the decoder refused (an id of the wrong length) is not forwarded either.
                        guard let (traceID, traceBytes, spanID) = try ids(of: span, in: base) else { continue }
                        if let kept, !kept.contains(spanID) { continue }
                        let index: Int
                        if let known = traces[traceID] {
                            index = known
                        } else {
                            index = order.count
                            traces[traceID] = index
                            order.append((traceID, traceBytes))
                        }
                        scope.spans.append((start..<span.upperBound, index))
                    }
                    resource.scopes.append(scope)
                }
                resources.append(resource)
            }
        }
        return order.enumerated().map { index, trace in
            var writer = ProtoWriter()
            for resource in resources where resource.scopes.contains(where: { $0.spans.contains { $0.trace == index } }) {
                writer.messageField(1) { resourceWriter in
                    for field in resource.fields { resourceWriter.bytes += request[field] }
                    for scope in resource.scopes where scope.spans.contains(where: { $0.trace == index }) {
                        resourceWriter.messageField(2) { scopeWriter in
                            for field in scope.fields { scopeWriter.bytes += request[field] }
                            for span in scope.spans where span.trace == index { scopeWriter.bytes += request[span.range] }
                        }
                    }
                }
            }
            return Piece(traceID: trace.0, key: trace.1, request: writer.bytes)
        }
    }

    /// A span's trace id (and its wire bytes) and span id; nil when the trace id is not 16 bytes.
    private static func ids(of span: Range<Int>, in base: UnsafeRawBufferPointer) throws(WireError) -> (TraceID, [UInt8], UInt64)? {
        var reader = ProtoReader(base, start: span.lowerBound, end: span.upperBound)
        var trace: Range<Int>?, spanID: UInt64 = 0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): trace = try reader.readLengthDelimited()
            case (2, .lengthDelimited):
                let range = try reader.readLengthDelimited()
                if range.count == 8 { spanID = bigEndian(base, range.lowerBound) }
            default: try reader.skip(wireType)
            }
        }
        guard let trace, trace.count == 16 else { return nil }
        return (TraceID(high: bigEndian(base, trace.lowerBound), low: bigEndian(base, trace.lowerBound + 8)), Array(base[trace]), spanID)
    }

    private static func bigEndian(_ base: UnsafeRawBufferPointer, _ start: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in start..<(start + 8) { value = value << 8 | UInt64(base[index]) }
        return value
    }
}
