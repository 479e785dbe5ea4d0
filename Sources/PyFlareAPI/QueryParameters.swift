import Foundation
import Hummingbird
import HummingbirdCore
import PyFlareWire

/// The query string of an API request, read with the checks every route shares: a malformed
/// value is a 400 that names the parameter and says what it should be.
struct QueryParameters {
    let parameters: FlatDictionary<Substring, Substring>

    init(_ request: Request) {
        parameters = request.uri.queryParameters
    }

    init(_ parameters: FlatDictionary<Substring, Substring>) {
        self.parameters = parameters
    }

    /// The value of `name`; nil when absent or empty.
    func text(_ name: String) -> String? {
        parameters[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// RFC 3339 text or unix nanoseconds.
    func time(_ name: String) throws(APIError) -> UInt64? {
        guard let value = text(name) else { return nil }
        guard let time = RFC3339.nanoseconds(value) else {
            throw .invalid(name, "must be RFC 3339 (2026-11-21T10:00:00Z) or unix nanoseconds, from 1970 to \(UnixTime.latestText), not \"\(value)\"")
        }
        return time
    }

    /// `since` and `until`, checked to be in order.
    func timeRange() throws(APIError) -> (since: UInt64?, until: UInt64?) {
        let since = try time("since"), until = try time("until")
        if let since, let until, since >= until {
            throw .badRequest("since must be before until")
        }
        return (since, until)
    }

    /// `since` (default: `defaultSpan` before `until`) and `until` (default: now), as a range.
    func range(defaultSpan: Int64) throws(APIError) -> Range<Int64> {
        let (since, until) = try timeRange()
        let end = until.map { Int64(clamping: $0) } ?? UnixTime.nowNanoseconds() + 1
        let start = since.map { Int64(clamping: $0) } ?? end - defaultSpan
        guard start < end else { throw .badRequest("since must be before until") }
        return start..<end
    }

    /// An integer from 1 to `maximum`; `defaultValue` when absent.
    func limit(_ name: String = "limit", default defaultValue: Int, maximum: Int) throws(APIError) -> Int {
        guard let value = text(name) else { return defaultValue }
        guard let limit = Int(value), (1...maximum).contains(limit) else {
            throw .badRequest("\(name) must be an integer from 1 to \(maximum), not \"\(value)\"")
        }
        return limit
    }

    /// `true`/`false` (also `1`/`0`); nil when absent.
    func boolean(_ name: String) throws(APIError) -> Bool? {
        guard let value = text(name) else { return nil }
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw .badRequest("\(name) must be true or false, not \"\(value)\"")
        }
    }

    /// Every parameter whose name starts with `prefix`, with the prefix removed, in order.
    func prefixed(_ prefix: String) -> [(name: String, value: String)] {
        parameters.compactMap { name, value in
            name.hasPrefix(prefix) ? (String(name.dropFirst(prefix.count)), String(value)) : nil
        }
    }
}
