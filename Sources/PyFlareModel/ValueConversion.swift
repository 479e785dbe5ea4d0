import PyFlareWire

/// Reading numbers from attribute values whatever type the instrumentation chose
/// (token counts arrive as ints, doubles or decimal strings).
enum ValueConversion {
    static func integer(kind: ValueKind, payload: UInt64, in batch: SpanBatch) -> Int64? {
        switch kind {
        case .int: return Int64(bitPattern: payload)
        case .double:
            let value = Double(bitPattern: payload)
            guard value.isFinite, abs(value) < 9.2e18 else { return nil }
            return Int64(value.rounded())
        case .string:
            let text = batch.string(StringRef(packed: payload)).trimmingSpaces
            return Int64(text) ?? Double(text).flatMap { $0.isFinite && abs($0) < 9.2e18 ? Int64($0.rounded()) : nil }
        default: return nil
        }
    }

    static func double(kind: ValueKind, payload: UInt64, in batch: SpanBatch) -> Double? {
        switch kind {
        case .int: return Double(Int64(bitPattern: payload))
        case .double:
            let value = Double(bitPattern: payload)
            return value.isFinite ? value : nil
        case .string: return Double(batch.string(StringRef(packed: payload)).trimmingSpaces)
        default: return nil
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
