import PyFlareWire

/// Re-encodes a protobuf message (the logs and metrics fixtures) with another layout, guided by
/// a schema of which length-delimited fields are messages and which are packed scalars:
/// field order, unknown fields and wrong-wire-type copies as ``EncodeOptions`` says (at every
/// message level), and packed fields unpacked or split into two runs. The decoders must read
/// every such layout as the original.
struct ProtoRewriter {
    enum Packing {
        case keep
        /// One tag per element, which protobuf parsers must accept for packed fields.
        case unpack
        /// Two packed runs, which parsers must concatenate.
        case split
    }

    /// For each message, its message-typed fields (number → message name).
    static let messages: [String: [UInt32: String]] = [
        "ExportLogsServiceRequest": [1: "ResourceLogs"],
        "ResourceLogs": [1: "Resource", 2: "ScopeLogs"],
        "ScopeLogs": [1: "InstrumentationScope", 2: "LogRecord"],
        "LogRecord": [5: "AnyValue", 6: "KeyValue"],
        "ExportMetricsServiceRequest": [1: "ResourceMetrics"],
        "ResourceMetrics": [1: "Resource", 2: "ScopeMetrics"],
        "ScopeMetrics": [1: "InstrumentationScope", 2: "Metric"],
        "Metric": [5: "Gauge", 7: "Sum", 9: "Histogram", 10: "ExponentialHistogram", 11: "Summary", 12: "KeyValue"],
        "Gauge": [1: "NumberDataPoint"],
        "Sum": [1: "NumberDataPoint"],
        "Histogram": [1: "HistogramDataPoint"],
        "ExponentialHistogram": [1: "ExponentialHistogramDataPoint"],
        "Summary": [1: "SummaryDataPoint"],
        "NumberDataPoint": [5: "Exemplar", 7: "KeyValue"],
        "HistogramDataPoint": [8: "Exemplar", 9: "KeyValue"],
        "ExponentialHistogramDataPoint": [1: "KeyValue", 8: "Buckets", 9: "Buckets", 11: "Exemplar"],
        "SummaryDataPoint": [6: "ValueAtQuantile", 7: "KeyValue"],
        "Exemplar": [7: "KeyValue"],
        "Resource": [1: "KeyValue"],
        "InstrumentationScope": [3: "KeyValue"],
        "KeyValue": [2: "AnyValue"],
        "AnyValue": [5: "ArrayValue", 6: "KeyValueList"],
        "ArrayValue": [1: "AnyValue"],
        "KeyValueList": [1: "KeyValue"],
    ]

    /// Packed repeated fields: message → field number → element wire type (0 varint, 1 fixed64).
    static let packed: [String: [UInt32: UInt8]] = [
        "HistogramDataPoint": [6: 1, 7: 1],
        "Buckets": [2: 0],
    ]

    var encoder: ProtoRequestEncoder
    var packing: Packing

    init(_ options: EncodeOptions = EncodeOptions(), packing: Packing = .keep) {
        var options = options
        options.fixed32Copies = true
        encoder = ProtoRequestEncoder(options)
        self.packing = packing
    }

    mutating func rewrite(_ bytes: [UInt8], as message: String) -> [UInt8] {
        var fields = ProtoRequestEncoder.Fields()
        for field in Self.parse(bytes[...]) {
            var writer = ProtoWriter()
            if field.wireType == 2, let child = Self.messages[message]?[field.number] {
                writer.bytesField(field.number, rewrite(Array(field.value), as: child))
            } else if field.wireType == 2, let element = Self.packed[message]?[field.number], packing != .keep {
                let elements = Self.elements(of: field.value, wireType: element)
                if packing == .unpack {
                    for value in elements {
                        writer.tag(field.number, element)
                        writer.bytes += value
                    }
                } else {
                    let half = elements.count / 2
                    writer.bytesField(field.number, elements[..<half].joined())
                    writer.bytesField(field.number, elements[half...].joined())
                }
            } else {
                writer.tag(field.number, field.wireType)
                if field.wireType == 2 { writer.varint(UInt64(field.value.count)) }
                writer.bytes += field.value
            }
            fields.list.append((field.number, field.wireType, writer.bytes))
        }
        return encoder.layout(fields)
    }

    /// The fields of a well-formed message: number, wire type and value bytes (without the
    /// length prefix of length-delimited ones).
    static func parse(_ bytes: ArraySlice<UInt8>) -> [(number: UInt32, wireType: UInt8, value: ArraySlice<UInt8>)] {
        var out: [(UInt32, UInt8, ArraySlice<UInt8>)] = []
        var index = bytes.startIndex
        func varint() -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while index < bytes.endIndex {
            let key = varint()
            let wireType = UInt8(key & 7)
            let start = index
            switch wireType {
            case 0: _ = varint()
            case 1: index += 8
            case 5: index += 4
            default:
                let length = Int(varint())
                out.append((UInt32(key >> 3), wireType, bytes[index..<(index + length)]))
                index += length
                continue
            }
            out.append((UInt32(key >> 3), wireType, bytes[start..<index]))
        }
        return out
    }

    /// The encoded elements of a packed run.
    static func elements(of run: ArraySlice<UInt8>, wireType: UInt8) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var index = run.startIndex
        while index < run.endIndex {
            var end = index
            if wireType == 1 {
                end += 8
            } else {
                while run[end] >= 0x80 { end += 1 }
                end += 1
            }
            out.append(Array(run[index..<end]))
            index = end
        }
        return out
    }
}
