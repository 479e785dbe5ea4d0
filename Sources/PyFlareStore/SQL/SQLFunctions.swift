import Foundation
import GRDBSQLite
import PyFlareWire

/// PyFlare's SQL functions (`docs/sql.md`):
/// - `attr(json, key)`: the member `key` of a JSON object such as `spans.attributes`, typed
///   (text, integer, real, 0/1 for booleans, JSON text for objects and arrays), or NULL.
///   Keys are matched whole, dots included: `attr(attributes, 'gen_ai.request.model')`.
/// - `unix_ns(text)`: RFC 3339 text as integer unix nanoseconds (NULL when it is not one), to
///   compare with `start_time_ns`, which prunes segments and blocks.
/// - `iso_time(ns)`: integer unix nanoseconds as RFC 3339 text in UTC.
/// - `now_ns()`: the current time in unix nanoseconds.
enum SQLFunctions {
    static func register(on db: OpaquePointer) {
        let deterministic = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS
        sqlite3_create_function_v2(db, "attr", 2, deterministic, nil, { context, _, arguments in
            SQLFunctions.attr(context, arguments![0], arguments![1])
        }, nil, nil, nil)
        sqlite3_create_function_v2(db, "unix_ns", 1, deterministic, nil, { context, _, arguments in
            guard let text = SQLiteValue.text(arguments![0]), let nanoseconds = RFC3339.nanoseconds(text),
                  nanoseconds <= UInt64(Int64.max) else { return sqlite3_result_null(context) }
            sqlite3_result_int64(context, Int64(nanoseconds))
        }, nil, nil, nil)
        sqlite3_create_function_v2(db, "iso_time", 1, deterministic, nil, { context, _, arguments in
            guard let nanoseconds = SQLiteValue.integer(arguments![0]), nanoseconds >= 0 else { return sqlite3_result_null(context) }
            SQLiteResult.text(context, RFC3339.string(UInt64(nanoseconds)))
        }, nil, nil, nil)
        sqlite3_create_function_v2(db, "now_ns", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, nil, { context, _, _ in
            sqlite3_result_int64(context, Int64(Date().timeIntervalSince1970 * 1e9))
        }, nil, nil, nil)
    }

    private static func attr(_ context: OpaquePointer?, _ object: OpaquePointer?, _ key: OpaquePointer?) {
        guard sqlite3_value_type(object) == SQLITE_TEXT, let key = SQLiteValue.text(key),
              let text = sqlite3_value_text(object) else { return sqlite3_result_null(context) }
        let bytes = Array(UnsafeRawBufferPointer(start: text, count: Int(sqlite3_value_bytes(object))))
        guard let value = try? JSONValue.parse(bytes)[key] else { return sqlite3_result_null(context) }
        switch value {
        case .null: sqlite3_result_null(context)
        case .bool(let flag): sqlite3_result_int64(context, flag ? 1 : 0)
        case .int(let integer): sqlite3_result_int64(context, integer)
        case .double(let real): sqlite3_result_double(context, real)
        case .string(let string): SQLiteResult.text(context, string)
        case .array, .object:
            var json = JSONWriter()
            write(value, to: &json)
            SQLiteResult.text(context, json.bytes)
        }
    }

    private static func write(_ value: JSONValue, to json: inout JSONWriter) {
        switch value {
        case .null: json.null()
        case .bool(let flag): json.bool(flag)
        case .int(let integer): json.int(integer)
        case .double(let real): json.double(real)
        case .string(let string): json.string(string)
        case .array(let elements):
            json.byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { json.byte(UInt8(ascii: ",")) }
                write(element, to: &json)
            }
            json.byte(UInt8(ascii: "]"))
        case .object(let members):
            json.byte(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { json.byte(UInt8(ascii: ",")) }
                json.string(member.key)
                json.byte(UInt8(ascii: ":"))
                write(member.value, to: &json)
            }
            json.byte(UInt8(ascii: "}"))
        }
    }
}
