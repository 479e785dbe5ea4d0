import Foundation

/// Wall-clock time as unix nanoseconds, the unit of every time PyFlare stores.
public enum UnixTime {
    public static let second: Int64 = 1_000_000_000
    public static let minute = 60 * second
    public static let hour = 60 * minute
    public static let day = 24 * hour

    /// The latest time PyFlare accepts anywhere, 2200-01-01T00:00:00Z: in a request, in SQL and
    /// in ingested records (a record stamped later is refused). Unix nanoseconds of the year
    /// 2262 overflow an `Int64`; stopping 62 years short leaves every bucket, window and
    /// lateness sum room to stay inside it, so time arithmetic on accepted values never traps.
    public static let latest: Int64 = 7_258_118_400 * second
    /// ``latest`` as the unsigned nanoseconds OTLP carries.
    public static let latestUnsigned = UInt64(latest)
    /// ``latest`` as text, for the errors that refuse a later time.
    public static let latestText = "2200-01-01T00:00:00Z"

    /// Whether `nanoseconds` (as OTLP carries them) is a time PyFlare stores: at most ``latest``.
    @inline(__always)
    public static func isStorable(_ nanoseconds: UInt64) -> Bool { nanoseconds <= latestUnsigned }

    public static func nowNanoseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1e9)
    }
}

extension Duration {
    /// The duration in seconds, fractions included: for rates and reports.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds: for times kept as unix nanoseconds.
    public var inNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
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
