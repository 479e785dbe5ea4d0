import PyFlareIngest
import PyFlareWire

/// Times as the telemetry routes read them from a request.
extension TelemetryTime {
    /// The optional `key` member of `fields`: unix seconds as a number (fractions allowed)
    /// or an RFC 3339 string.
    static func timestamp(_ fields: JSONFields, _ key: String = "timestamp") throws(APIError) -> UInt64? {
        guard let value = fields.value(key) else { return nil }
        let name = fields.path + key
        switch value {
        case .int, .double:
            let seconds = value.number!
            guard seconds.isFinite, seconds >= 0, seconds <= maxSeconds else {
                throw .badRequest("\(name) must be unix seconds from 0 to \(Int(maxSeconds)), not \(seconds) (milliseconds or nanoseconds?)")
            }
            // Whole seconds apart from the fraction: the product of the whole would round to 256 ns.
            let whole = seconds.rounded(.down)
            return UInt64(whole) * 1_000_000_000 + UInt64(((seconds - whole) * 1e9).rounded())
        case .string(let text):
            // RFC3339.nanoseconds also reads digits as nanoseconds; here a number must be a JSON number.
            guard UInt64(text) == nil, let nanoseconds = RFC3339.nanoseconds(text) else {
                throw .badRequest("\(name) must be unix seconds (a number) or RFC 3339 text (2026-11-21T10:00:00Z), not \"\(text)\"")
            }
            return nanoseconds
        default:
            throw .badRequest("\(name) must be unix seconds (a number) or RFC 3339 text, not \(value.kindDescription)")
        }
    }
}
