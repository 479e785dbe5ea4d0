import Foundation
import GRDBSQLite
import PyFlareWire
import PyFlareStore

/// PyFlare's SQL functions (`docs/sql.md`):
/// - `attr(json, key)`: the member `key` of a JSON object such as `spans.attributes`, typed
///   (text, integer, real, 0/1 for booleans, JSON text for objects and arrays), or NULL.
///   Keys are matched whole, dots included: `attr(attributes, 'gen_ai.request.model')`.
/// - `unix_ns(text)`: RFC 3339 text as integer unix nanoseconds (NULL when it is not one), to
///   compare with `start_time_ns`, which prunes segments and blocks.
/// - `iso_time(ns)`: integer unix nanoseconds as RFC 3339 text in UTC.
/// - `now_ns()`: the current time in unix nanoseconds.
/// - `latency_sketch(ns)`: aggregate, the ``LatencySketch`` of the non-NULL integer
///   nanoseconds of a group as a BLOB; the empty sketch's BLOB for a group without any, so
///   that a sketch is never NULL.
/// - `sketch_merge(blob)`: aggregate, the merge of a group's sketches as a BLOB (NULLs
///   skipped, the empty sketch when there are none); a BLOB that is no sketch is an error.
/// - `sketch_quantile(blob, q)`: quantile `q` (0 to 1) of a sketch in integer nanoseconds,
///   within 1%; NULL for the empty sketch.
/// - `sketch_count(blob)`: the number of values in a sketch.
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
            sqlite3_result_int64(context, UnixTime.nowNanoseconds())
        }, nil, nil, nil)
        sqlite3_create_function_v2(db, "latency_sketch", 1, deterministic, nil, nil, { context, _, arguments in
            SQLFunctions.addValue(context, arguments![0])
        }, { context in
            SQLFunctions.finishSketch(context)
        }, nil)
        sqlite3_create_function_v2(db, "sketch_merge", 1, deterministic, nil, nil, { context, _, arguments in
            guard let sketch = SQLFunctions.sketch(context, arguments![0], in: "sketch_merge") else { return }
            SQLFunctions.withAccumulator(context) { $0.sketch.merge(sketch) }
        }, { context in
            SQLFunctions.finishSketch(context)
        }, nil)
        sqlite3_create_function_v2(db, "sketch_quantile", 2, deterministic, nil, { context, _, arguments in
            SQLFunctions.quantile(context, arguments![0], arguments![1])
        }, nil, nil, nil)
        sqlite3_create_function_v2(db, "sum_saturating", 1, deterministic, nil, nil, { context, _, arguments in
            SQLFunctions.addSaturating(context, arguments![0])
        }, { context in
            SQLFunctions.finishSaturating(context)
        }, nil)
        sqlite3_create_function_v2(db, "sketch_count", 1, deterministic, nil, { context, _, arguments in
            guard let sketch = SQLFunctions.sketch(context, arguments![0], in: "sketch_count") else { return }
            sqlite3_result_int64(context, sketch.count)
        }, nil, nil, nil)
    }

    /// The running total of one group of `sum_saturating`, in SQLite's zeroed aggregate memory.
    private struct SaturatingTotal {
        var sum: Int64
        var seen: Bool
    }

    /// xStep of `sum_saturating`: `sum()` whose total stops at the ends of the Int64 range
    /// instead of failing the statement with "integer overflow". The built-in jobs sum with
    /// it, so values that one client chose (a span lasting until 2200, tokens of Int64.max)
    /// cannot stop a job for good.
    private static func addSaturating(_ context: OpaquePointer?, _ value: OpaquePointer?) {
        let addend: Int64
        switch sqlite3_value_type(value) {
        case SQLITE_NULL: return
        case SQLITE_INTEGER: addend = sqlite3_value_int64(value)
        default:
            let real = sqlite3_value_double(value)
            addend = Int64(checked: real) ?? (real < 0 ? .min : .max)
        }
        guard let total = sqlite3_aggregate_context(context, Int32(MemoryLayout<SaturatingTotal>.size))?
            .assumingMemoryBound(to: SaturatingTotal.self) else { return sqlite3_result_error_nomem(context) }
        let (sum, overflow) = total.pointee.sum.addingReportingOverflow(addend)
        total.pointee.sum = overflow ? (addend < 0 ? .min : .max) : sum
        total.pointee.seen = true
    }

    /// xFinal of `sum_saturating`: NULL for a group of only NULLs, as `sum()` answers.
    private static func finishSaturating(_ context: OpaquePointer?) {
        guard let total = sqlite3_aggregate_context(context, 0)?.assumingMemoryBound(to: SaturatingTotal.self),
              total.pointee.seen else { return sqlite3_result_null(context) }
        sqlite3_result_int64(context, total.pointee.sum)
    }

    /// The sketch of one group of `latency_sketch` or `sketch_merge`. SQLite's aggregate context
    /// is raw zeroed memory, no place for a Swift value: it holds a retained pointer to this.
    private final class SketchAccumulator {
        var sketch = LatencySketch()
    }

    /// Runs `body` on the group's accumulator, made on the group's first row.
    private static func withAccumulator(_ context: OpaquePointer?, _ body: (SketchAccumulator) -> Void) {
        guard let slot = sqlite3_aggregate_context(context, Int32(MemoryLayout<UnsafeMutableRawPointer?>.size))?
            .assumingMemoryBound(to: UnsafeMutableRawPointer?.self) else { return sqlite3_result_error_nomem(context) }
        if slot.pointee == nil { slot.pointee = Unmanaged.passRetained(SketchAccumulator()).toOpaque() }
        Unmanaged<SketchAccumulator>.fromOpaque(slot.pointee!)._withUnsafeGuaranteedRef(body)
    }

    /// xFinal of both sketch aggregates: the group's sketch as a BLOB, and the accumulator
    /// released. SQLite calls it once per group, without any xStep for an empty one (then
    /// there is no context and the answer is the empty sketch), and also when a statement
    /// stops mid-group, so nothing leaks.
    private static func finishSketch(_ context: OpaquePointer?) {
        var sketch = LatencySketch()
        if let slot = sqlite3_aggregate_context(context, 0)?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self),
           let accumulator = slot.pointee {
            sketch = Unmanaged<SketchAccumulator>.fromOpaque(accumulator).takeRetainedValue().sketch
            slot.pointee = nil
        }
        SQLiteResult.blob(context, sketch.serialized())
    }

    /// xStep of `latency_sketch`: NULL is skipped, a number is added (reals rounded down), anything else is an error.
    private static func addValue(_ context: OpaquePointer?, _ value: OpaquePointer?) {
        guard sqlite3_value_type(value) != SQLITE_NULL else { return }
        guard let nanoseconds = SQLiteValue.integer(value) else {
            return sqlite3_result_error(context, "latency_sketch() takes integer nanoseconds", -1)
        }
        withAccumulator(context) { $0.sketch.add(nanoseconds) }
    }

    /// The sketch of a BLOB argument of `function`; nil for NULL, and after setting an error
    /// for anything that is not a serialized sketch.
    private static func sketch(_ context: OpaquePointer?, _ value: OpaquePointer?, in function: String) -> LatencySketch? {
        guard sqlite3_value_type(value) != SQLITE_NULL else { return nil }
        guard let bytes = SQLiteValue.blob(value) else {
            sqlite3_result_error(context, "\(function)() takes a sketch BLOB from latency_sketch() or sketch_merge()", -1)
            return nil
        }
        do {
            return try LatencySketch(serialized: bytes)
        } catch {
            sqlite3_result_error(context, "\(function)(): \(error)", -1)
            return nil
        }
    }

    private static func quantile(_ context: OpaquePointer?, _ blob: OpaquePointer?, _ q: OpaquePointer?) {
        guard let sketch = sketch(context, blob, in: "sketch_quantile") else { return }
        let type = sqlite3_value_type(q)
        guard type != SQLITE_NULL else { return sqlite3_result_null(context) }
        let fraction = sqlite3_value_double(q)
        guard type == SQLITE_INTEGER || type == SQLITE_FLOAT, (0...1).contains(fraction) else {
            return sqlite3_result_error(context, "sketch_quantile() takes a quantile between 0 and 1", -1)
        }
        SQLiteResult.integer(context, sketch.quantile(fraction))
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
            json.elements(of: elements) { element, json in
                write(element, to: &json)
            }
            json.byte(UInt8(ascii: "]"))
        case .object(let members):
            json.byte(UInt8(ascii: "{"))
            json.elements(of: members) { member, json in
                json.string(member.key)
                json.byte(UInt8(ascii: ":"))
                write(member.value, to: &json)
            }
            json.byte(UInt8(ascii: "}"))
        }
    }
}
