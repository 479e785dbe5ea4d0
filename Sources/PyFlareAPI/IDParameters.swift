import PyFlareWire

/// Trace and span ids as every route reads them: hex (either case), the right length, not
/// zero; anything else is a 400 that names the field.
enum IDParameters {
    /// A span id in a path, query or body: 16 hex digits, not all zero.
    static func spanID(_ text: String, field: String) throws(APIError) -> UInt64 {
        guard let id = Hex.parseSpanID(text.lowercased()), id != 0 else {
            throw .badRequest("\(field) must be 16 hex digits, not all zero: \"\(text.prefix(64))\"")
        }
        return id
    }

    /// A trace id in a path, query or body: 32 hex digits, not all zero.
    static func traceID(_ text: String, field: String) throws(APIError) -> TraceID {
        guard let id = Hex.parseTraceID(text.lowercased()), !id.isZero else {
            throw .badRequest("\(field) must be 32 hex digits, not all zero: \"\(text.prefix(64))\"")
        }
        return id
    }
}
