import Foundation

/// Wall-clock time as unix nanoseconds, the unit of every time PyFlare stores.
public enum UnixTime {
    public static func nowNanoseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1e9)
    }
}

extension RFC3339 {
    /// Signed unix nanoseconds as RFC 3339 text; times before 1970 read as the epoch.
    public static func string(signed nanoseconds: Int64) -> String {
        string(UInt64(max(0, nanoseconds)))
    }
}

extension JSONWriter {
    /// Unix nanoseconds as an RFC 3339 string; null when absent.
    public mutating func time(_ nanoseconds: Int64?) {
        guard let nanoseconds else { return null() }
        rfc3339(UInt64(max(0, nanoseconds)))
    }

    /// Unix nanoseconds as an RFC 3339 string (no escaping needed: digits and punctuation).
    public mutating func rfc3339(_ nanoseconds: UInt64) {
        byte(UInt8(ascii: "\""))
        RFC3339.append(nanoseconds, to: &bytes)
        byte(UInt8(ascii: "\""))
    }
}
