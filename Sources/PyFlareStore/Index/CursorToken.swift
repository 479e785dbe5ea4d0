import Foundation

/// The opaque text of a paging cursor: its fields joined by `-`, as base64url without
/// padding, so it travels in a query string unescaped and is not mistaken for an API.
package enum CursorToken {
    package static func encode(_ fields: [String]) -> String {
        Data(fields.joined(separator: "-").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The fields of `token`; nil when it is not base64url of UTF-8 text.
    package static func decode(_ token: String) -> [Substring]? {
        text(token)?.split(separator: "-", omittingEmptySubsequences: false)
    }

    /// `count` fields of `token`, the last keeping any `-` of its own (an id that may hold one).
    package static func decode(_ token: String, count: Int) -> [Substring]? {
        guard let fields = text(token)?.split(separator: "-", maxSplits: count - 1, omittingEmptySubsequences: false),
              fields.count == count else { return nil }
        return fields
    }

    private static func text(_ token: String) -> String? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
