import Foundation

/// The opaque text of a paging cursor: its fields joined by `-`, as base64url without
/// padding, so it travels in a query string unescaped and is not mistaken for an API.
enum CursorToken {
    static func encode(_ fields: [String]) -> String {
        Data(fields.joined(separator: "-").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The fields of `token`; nil when it is not base64url of UTF-8 text.
    static func decode(_ token: String) -> [Substring]? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let raw = String(data: data, encoding: .utf8) else { return nil }
        return raw.split(separator: "-", omittingEmptySubsequences: false)
    }
}
