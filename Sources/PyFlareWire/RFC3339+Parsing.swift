import Foundation

extension RFC3339 {
    // ISO8601DateFormatter is thread-safe once configured; making one per call costs more than the rest.
    nonisolated(unsafe) private static let wholeSeconds = ISO8601DateFormatter()

    /// RFC 3339 text (or a count of unix nanoseconds) as unix nanoseconds; nil for anything
    /// else, a time before 1970 or one after ``UnixTime/latest``. Exact to the nanosecond: the
    /// fraction is read as digits, not through a `Double`. Every time a request carries goes
    /// through here, so what it returns is safe for the `Int64` arithmetic that follows.
    public static func nanoseconds(_ text: String) -> UInt64? {
        guard text.utf8.count <= 64 else { return nil }
        if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard let value = UInt64(text), UnixTime.isStorable(value) else { return nil }
            return value
        }
        var text = text.uppercased()
        var fraction: UInt64 = 0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let value = UInt64(digits) else { return nil }
            fraction = value * UInt64(pow(10.0, Double(9 - digits.count)))
            text.removeSubrange(dot..<text.index(dot, offsetBy: 1 + digits.count))
        }
        guard let date = wholeSeconds.date(from: text), date.timeIntervalSince1970 >= 0,
              date.timeIntervalSince1970 <= Double(UnixTime.latest / UnixTime.second) else { return nil }
        let nanoseconds = UInt64(date.timeIntervalSince1970.rounded()) * 1_000_000_000 + fraction
        return UnixTime.isStorable(nanoseconds) ? nanoseconds : nil
    }
}
