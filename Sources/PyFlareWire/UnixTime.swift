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
        if let nanoseconds { string(RFC3339.string(signed: nanoseconds)) } else { null() }
    }
}
