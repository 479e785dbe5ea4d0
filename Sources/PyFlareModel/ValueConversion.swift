import Foundation
import PyFlareWire

/// Reading numbers from attribute values whatever type the instrumentation chose
/// (token counts arrive as ints, doubles or decimal strings).
enum ValueConversion {
    static func integer(kind: ValueKind, payload: UInt64, in batch: SpanBatch) -> Int64? {
        switch kind {
        case .int: return Int64(bitPattern: payload)
        case .double: return rounded(Double(bitPattern: payload))
        case .string:
            let text = trimmed(payload, in: batch)
            return Int64(text) ?? rounded(Double(text))
        default: return nil
        }
    }

    static func double(kind: ValueKind, payload: UInt64, in batch: SpanBatch) -> Double? {
        switch kind {
        case .int: return Double(Int64(bitPattern: payload))
        case .double:
            let value = Double(bitPattern: payload)
            return value.isFinite ? value : nil
        case .string: return Double(trimmed(payload, in: batch))
        default: return nil
        }
    }

    /// The nearest Int64, or nil when `value` is missing, not finite or out of range.
    private static func rounded(_ value: Double?) -> Int64? {
        guard let value, value.isFinite, abs(value) < 9.2e18 else { return nil }
        return Int64(value.rounded())
    }

    private static func trimmed(_ payload: UInt64, in batch: SpanBatch) -> String {
        batch.string(StringRef(packed: payload)).trimmingCharacters(in: .whitespaces)
    }
}

extension Int64 {
    /// `self + other`, held at the bounds instead of trapping: token counts and costs come
    /// from clients, and a nonsense figure must not stop the server.
    @inlinable public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// The nearest Int64 to `value` (0 for NaN).
    @inlinable public init(saturating value: Double) {
        if value.isNaN { self = 0 } else if value >= 9.223372036854775807e18 { self = .max } else if value <= -9.223372036854775808e18 { self = .min } else { self = Int64(value) }
    }
}
