import Foundation
import PyFlareWire
import PyFlareTesting
import Testing

// Shared by the protobuf, JSON and robustness tests: fixture loading, a small JSON
// reader for the `*.expected.json` files (it keeps numbers as text, so uint64 times,
// int64 extremes, -0.0 and 5e-324 survive exactly), a flat per-span record of
// everything a ``SpanBatch`` holds, and a field-by-field comparison of records.

// MARK: - Fixtures

enum Fixtures {
    static func bytes(_ name: String) throws -> [UInt8] {
        try WireFixtures.bytes(name)
    }

    /// The spans a `*.expected.json` file describes.
    static func expectedSpans(_ name: String) throws -> [SpanRecord] {
        let document = try TestJSON.parse(bytes(name))
        let spans = try #require(document["spans"]?.arrayValue, "\(name) has no spans array")
        return try spans.map { try SpanRecord(expected: $0) }
    }
}

// MARK: - A small JSON tree

/// JSON as a tree; numbers stay text. Objects keep member order and duplicates.
indirect enum TestJSON: Equatable, Sendable {
    case object([Member])
    case array([TestJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    struct Member: Equatable, Sendable {
        var key: String
        var value: TestJSON
    }

    struct ParseError: Error, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "\(message) at \(offset)" }
    }

    subscript(key: String) -> TestJSON? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var arrayValue: [TestJSON]? {
        if case let .array(elements) = self { return elements }
        return nil
    }

    var stringValue: String? {
        if case let .string(text) = self { return text }
        return nil
    }

    /// The text of a number, or of a string (the expectation writes int64s as strings).
    var numberText: String? {
        switch self {
        case let .number(text), let .string(text): text
        default: nil
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> TestJSON {
        var parser = Parser(bytes: bytes)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == bytes.count else { throw ParseError(message: "trailing data", offset: parser.index) }
        return value
    }

    static func parse(_ text: String) throws -> TestJSON { try parse(Array(text.utf8)) }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        func fail(_ message: String) -> ParseError { ParseError(message: message, offset: index) }

        mutating func value() throws -> TestJSON {
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [Member] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    members.append(Member(key: key, value: try value()))
                    skipSpace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    return .object(members)
                }
            case UInt8(ascii: "["):
                index += 1
                var elements: [TestJSON] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                while true {
                    elements.append(try value())
                    skipSpace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    return .array(elements)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default:
                let start = index
                while index < bytes.count, Array("+-0123456789.eE".utf8).contains(bytes[index]) { index += 1 }
                guard index > start else { throw fail("unexpected character") }
                return .number(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard index < bytes.count, bytes[index] == byte else { throw fail("expected \(Character(Unicode.Scalar(byte)))") }
            index += 1
        }

        mutating func literal(_ text: String) throws {
            for byte in text.utf8 { try expect(byte) }
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - index >= 4, let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            index += 4
            return value
        }

        mutating func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw fail("unterminated escape") }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            try expect(UInt8(ascii: "\\"))
                            try expect(UInt8(ascii: "u"))
                            let low = try hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("bad scalar") }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: out.append(escaped)
                    }
                default:
                    out.append(byte)
                }
            }
            throw fail("unterminated string")
        }
    }
}

extension TestJSON {
    enum SerializeStyle {
        /// Strings as they are (only `"`, `\` and control characters escaped).
        case plain
        /// Every character of every string as `\uXXXX` (surrogate pairs above the BMP).
        case escapeEverything
    }

    /// Serializes the tree. `keepPlain` names keys whose string values are written plainly
    /// whatever the style.
    func serialized(style: SerializeStyle = .plain, keepPlain: Set<String> = []) -> String {
        var out = ""
        write(to: &out, style: style, keepPlain: keepPlain, plainValue: false)
        return out
    }

    private func write(to out: inout String, style: SerializeStyle, keepPlain: Set<String>, plainValue: Bool) {
        switch self {
        case let .object(members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += ", " }
                Self.writeString(member.key, to: &out, style: style)
                out += ": "
                member.value.write(to: &out, style: style, keepPlain: keepPlain, plainValue: keepPlain.contains(member.key))
            }
            out += "}"
        case let .array(elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += ","}
                element.write(to: &out, style: style, keepPlain: keepPlain, plainValue: plainValue)
            }
            out += "]"
        case let .string(text): Self.writeString(text, to: &out, style: plainValue ? .plain : style)
        case let .number(text): out += text
        case let .bool(flag): out += flag ? "true" : "false"
        case .null: out += "null"
        }
    }

    static func writeString(_ text: String, to out: inout String, style: SerializeStyle) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch style {
            case .plain:
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default:
                    if scalar.value < 0x20 { out += unicodeEscape(scalar.value) } else { out.unicodeScalars.append(scalar) }
                }
            case .escapeEverything:
                if scalar.value >= 0x10000 {
                    let value = scalar.value - 0x10000
                    out += unicodeEscape(0xD800 + (value >> 10)) + unicodeEscape(0xDC00 + (value & 0x3FF))
                } else {
                    out += unicodeEscape(scalar.value)
                }
            }
        }
        out += "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}

// MARK: - Flat records of decoded spans

typealias KeyValues = [(key: String, value: AttributeValue)]

struct EventRecord {
    var time: UInt64 = 0
    var name = ""
    var attributes: KeyValues = []
    var droppedAttributes: UInt32 = 0
}

struct LinkRecord {
    /// Lowercase hex; "" when absent or all zero.
    var traceID = ""
    var spanID = ""
    var traceState = ""
    var flags: UInt32 = 0
    var attributes: KeyValues = []
    var droppedAttributes: UInt32 = 0
}

/// Everything a batch holds about one span, with its resource and scope, as plain values.
struct SpanRecord {
    var resourceIndex = 0
    var resourceAttributes: KeyValues = []
    var resourceDroppedAttributes: UInt32 = 0
    var resourceSchemaURL = ""
    var scopeName = ""
    var scopeVersion = ""
    var scopeAttributes: KeyValues = []
    var scopeDroppedAttributes: UInt32 = 0
    var scopeSchemaURL = ""
    /// Lowercase hex ids; "" for an absent (zero) parent.
    var traceID = ""
    var spanID = ""
    var parentSpanID = ""
    var traceState = ""
    var flags: UInt32 = 0
    var name = ""
    var kind: UInt8 = 0
    var startTime: UInt64 = 0
    var endTime: UInt64 = 0
    var attributes: KeyValues = []
    var droppedAttributes: UInt32 = 0
    var events: [EventRecord] = []
    var droppedEvents: UInt32 = 0
    var links: [LinkRecord] = []
    var droppedLinks: UInt32 = 0
    var statusCode: UInt8 = 0
    var statusMessage = ""

    init() {}

    /// Every span of `batch`, read back through the batch's public accessors.
    static func all(in batch: SpanBatch) -> [SpanRecord] {
        (0..<batch.count).map { SpanRecord(batch, span: $0) }
    }

    init(_ batch: SpanBatch, span index: Int) {
        let scope = Int(batch.scopeIndices[index])
        let resource = Int(batch.scopes.resourceIndices[scope])
        resourceIndex = resource
        resourceAttributes = batch.keyValues(in: batch.attributes, batch.resources.attributes[resource])
        resourceDroppedAttributes = batch.resources.droppedAttributeCounts[resource]
        resourceSchemaURL = batch.string(batch.resources.schemaURLs[resource])
        scopeName = batch.string(batch.scopes.names[scope])
        scopeVersion = batch.string(batch.scopes.versions[scope])
        scopeAttributes = batch.keyValues(in: batch.attributes, batch.scopes.attributes[scope])
        scopeDroppedAttributes = batch.scopes.droppedAttributeCounts[scope]
        scopeSchemaURL = batch.string(batch.scopes.schemaURLs[scope])
        traceID = Hex.string(batch.traceIDs[index])
        spanID = Hex.string(batch.spanIDs[index])
        parentSpanID = batch.parentSpanIDs[index] == 0 ? "" : Hex.string(batch.parentSpanIDs[index])
        traceState = batch.string(batch.traceStates[index])
        flags = batch.flags[index]
        name = batch.string(batch.names[index])
        kind = batch.kinds[index]
        startTime = batch.startTimes[index]
        endTime = batch.endTimes[index]
        attributes = batch.keyValues(in: batch.attributes, batch.spanAttributes[index])
        droppedAttributes = batch.droppedAttributeCounts[index]
        events = batch.spanEvents[index].indices.map { event in
            EventRecord(time: batch.events.times[event], name: batch.string(batch.events.names[event]),
                        attributes: batch.keyValues(in: batch.eventAttributes, batch.events.attributes[event]),
                        droppedAttributes: batch.events.droppedAttributeCounts[event])
        }
        droppedEvents = batch.droppedEventCounts[index]
        links = batch.spanLinks[index].indices.map { link in
            LinkRecord(traceID: batch.links.traceIDs[link].isZero ? "" : Hex.string(batch.links.traceIDs[link]),
                       spanID: batch.links.spanIDs[link] == 0 ? "" : Hex.string(batch.links.spanIDs[link]),
                       traceState: batch.string(batch.links.traceStates[link]),
                       flags: batch.links.flags[link],
                       attributes: batch.keyValues(in: batch.linkAttributes, batch.links.attributes[link]),
                       droppedAttributes: batch.links.droppedAttributeCounts[link])
        }
        droppedLinks = batch.droppedLinkCounts[index]
        statusCode = batch.statusCodes[index]
        statusMessage = batch.string(batch.statusMessages[index])
    }

    /// A span of a `*.expected.json` file.
    init(expected json: TestJSON) throws {
        func text(_ key: String) throws -> String {
            try #require(json[key]?.stringValue, "expected span lacks \(key)")
        }
        func number<Number: FixedWidthInteger>(_ key: String, as _: Number.Type = Number.self) throws -> Number {
            let raw = try #require(json[key]?.numberText, "expected span lacks \(key)")
            return try #require(Number(raw), "\(key) = \(raw) is not a \(Number.self)")
        }
        resourceIndex = try number("resource_index")
        resourceAttributes = try Self.keyValues(json["resource_attributes"])
        resourceDroppedAttributes = try number("resource_dropped_attributes_count")
        resourceSchemaURL = try text("resource_schema_url")
        scopeName = try text("scope_name")
        scopeVersion = try text("scope_version")
        scopeAttributes = try Self.keyValues(json["scope_attributes"])
        scopeDroppedAttributes = try number("scope_dropped_attributes_count")
        scopeSchemaURL = try text("scope_schema_url")
        traceID = try text("trace_id")
        spanID = try text("span_id")
        parentSpanID = try text("parent_span_id")
        traceState = try text("trace_state")
        flags = try number("flags")
        name = try text("name")
        kind = try number("kind")
        startTime = try number("start_time_unix_nano")
        endTime = try number("end_time_unix_nano")
        attributes = try Self.keyValues(json["attributes"])
        droppedAttributes = try number("dropped_attributes_count")
        events = try (json["events"]?.arrayValue ?? []).map { event in
            EventRecord(time: try #require(UInt64(event["time_unix_nano"]?.numberText ?? "")),
                        name: try #require(event["name"]?.stringValue),
                        attributes: try Self.keyValues(event["attributes"]),
                        droppedAttributes: try #require(UInt32(event["dropped_attributes_count"]?.numberText ?? "")))
        }
        droppedEvents = try number("dropped_events_count")
        links = try (json["links"]?.arrayValue ?? []).map { link in
            LinkRecord(traceID: try #require(link["trace_id"]?.stringValue),
                       spanID: try #require(link["span_id"]?.stringValue),
                       traceState: try #require(link["trace_state"]?.stringValue),
                       flags: try #require(UInt32(link["flags"]?.numberText ?? "")),
                       attributes: try Self.keyValues(link["attributes"]),
                       droppedAttributes: try #require(UInt32(link["dropped_attributes_count"]?.numberText ?? "")))
        }
        droppedLinks = try number("dropped_links_count")
        statusCode = try number("status_code")
        statusMessage = try text("status_message")
    }

    /// `[[key, typed value], …]` as written by `scripts/gen_fixtures.py`.
    static func keyValues(_ json: TestJSON?) throws -> KeyValues {
        let pairs = try #require(json?.arrayValue, "attributes are not an array")
        return try pairs.map { pair in
            let items = try #require(pair.arrayValue)
            try #require(items.count == 2)
            return (try #require(items[0].stringValue), try value(items[1]))
        }
    }

    /// `{"string": …}`, `{"int": "…"}`, `{"double": 1.5 | "NaN" | "-0.0" …}`, `{"bytes": "hex"}`,
    /// `{"array": […]}`, `{"kvlist": [[k, v], …]}`, `{"bool": …}`, `{"empty": true}`.
    static func value(_ json: TestJSON) throws -> AttributeValue {
        guard case let .object(members) = json, members.count == 1, let member = members.first else {
            throw TestJSON.ParseError(message: "typed value must have one member", offset: 0)
        }
        switch member.key {
        case "empty": return .empty
        case "string": return .string(try #require(member.value.stringValue))
        case "bool":
            guard case let .bool(flag) = member.value else { throw TestJSON.ParseError(message: "bool", offset: 0) }
            return .bool(flag)
        case "int": return .int(try #require(Int64(member.value.numberText ?? "")))
        case "double":
            switch member.value {
            case .string("NaN"): return .double(.nan)
            case .string("Infinity"): return .double(.infinity)
            case .string("-Infinity"): return .double(-.infinity)
            case .string("-0.0"): return .double(-0.0)
            default: return .double(try #require(Double(member.value.numberText ?? "")))
            }
        case "bytes": return .bytes(try #require(hexBytes(member.value.stringValue ?? "")))
        case "array": return .array(try (member.value.arrayValue ?? []).map(value))
        case "kvlist": return .keyValueList(try keyValues(member.value).map { ($0.key, $0.value) })
        default: throw TestJSON.ParseError(message: "unknown typed value \(member.key)", offset: 0)
        }
    }
}

/// Bytes of a hex string, or nil if it is not hex of even length.
func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count.isMultiple(of: 2) else { return nil }
    var out: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let byte = UInt8(String(decoding: digits[index..<(index + 2)], as: UTF8.self), radix: 16) else { return nil }
        out.append(byte)
        index += 2
    }
    return out
}

// MARK: - Comparison

/// Equality that tells -0.0 from 0.0 and treats every NaN as equal to every NaN.
func identical(_ lhs: AttributeValue, _ rhs: AttributeValue) -> Bool {
    switch (lhs, rhs) {
    case let (.double(a), .double(b)):
        return a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
    case let (.array(a), .array(b)):
        return a.count == b.count && zip(a, b).allSatisfy { identical($0, $1) }
    case let (.keyValueList(a), .keyValueList(b)):
        return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && identical($0.1, $1.1) }
    default:
        return lhs == rhs
    }
}

func identical(_ lhs: KeyValues, _ rhs: KeyValues) -> Bool {
    lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { $0.key == $1.key && identical($0.value, $1.value) }
}

/// Every field that differs between `actual` and `expected`, one line each.
func differences(_ actual: [SpanRecord], _ expected: [SpanRecord]) -> [String] {
    var out: [String] = []
    if actual.count != expected.count { out.append("span count: \(actual.count) != expected \(expected.count)") }
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let at = "span \(index) (\(e.name.debugDescription))"
        func check<Value: Equatable>(_ field: String, _ lhs: Value, _ rhs: Value) {
            if lhs != rhs { out.append("\(at) \(field): \(lhs) != expected \(rhs)") }
        }
        func check(_ field: String, _ lhs: KeyValues, _ rhs: KeyValues) {
            guard !identical(lhs, rhs) else { return }
            if lhs.count != rhs.count { out.append("\(at) \(field): \(lhs.count) pairs != expected \(rhs.count)") }
            for (row, (l, r)) in zip(lhs, rhs).enumerated() where l.key != r.key || !identical(l.value, r.value) {
                out.append("\(at) \(field)[\(row)]: \(l.key.debugDescription) = \(l.value) != expected \(r.key.debugDescription) = \(r.value)")
            }
        }
        check("resource index", a.resourceIndex, e.resourceIndex)
        check("resource attributes", a.resourceAttributes, e.resourceAttributes)
        check("resource dropped attributes", a.resourceDroppedAttributes, e.resourceDroppedAttributes)
        check("resource schema_url", a.resourceSchemaURL, e.resourceSchemaURL)
        check("scope name", a.scopeName, e.scopeName)
        check("scope version", a.scopeVersion, e.scopeVersion)
        check("scope attributes", a.scopeAttributes, e.scopeAttributes)
        check("scope dropped attributes", a.scopeDroppedAttributes, e.scopeDroppedAttributes)
        check("scope schema_url", a.scopeSchemaURL, e.scopeSchemaURL)
        check("trace_id", a.traceID, e.traceID)
        check("span_id", a.spanID, e.spanID)
        check("parent_span_id", a.parentSpanID, e.parentSpanID)
        check("trace_state", a.traceState, e.traceState)
        check("flags", a.flags, e.flags)
        check("name", a.name, e.name)
        check("kind", a.kind, e.kind)
        check("start time", a.startTime, e.startTime)
        check("end time", a.endTime, e.endTime)
        check("attributes", a.attributes, e.attributes)
        check("dropped attributes", a.droppedAttributes, e.droppedAttributes)
        check("event count", a.events.count, e.events.count)
        for (number, (ae, ee)) in zip(a.events, e.events).enumerated() {
            check("event \(number) time", ae.time, ee.time)
            check("event \(number) name", ae.name, ee.name)
            check("event \(number) attributes", ae.attributes, ee.attributes)
            check("event \(number) dropped attributes", ae.droppedAttributes, ee.droppedAttributes)
        }
        check("dropped events", a.droppedEvents, e.droppedEvents)
        check("link count", a.links.count, e.links.count)
        for (number, (al, el)) in zip(a.links, e.links).enumerated() {
            check("link \(number) trace_id", al.traceID, el.traceID)
            check("link \(number) span_id", al.spanID, el.spanID)
            check("link \(number) trace_state", al.traceState, el.traceState)
            check("link \(number) flags", al.flags, el.flags)
            check("link \(number) attributes", al.attributes, el.attributes)
            check("link \(number) dropped attributes", al.droppedAttributes, el.droppedAttributes)
        }
        check("dropped links", a.droppedLinks, e.droppedLinks)
        check("status code", a.statusCode, e.statusCode)
        check("status message", a.statusMessage, e.statusMessage)
    }
    return out
}

/// Records an issue listing every differing field, if any.
func expectSameSpans(_ actual: [SpanRecord], _ expected: [SpanRecord], _ context: String = "",
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let found = differences(actual, expected)
    #expect(found.isEmpty, "\(context)\n\(found.prefix(40).joined(separator: "\n"))", sourceLocation: sourceLocation)
}

/// Decodes `batch` completely through its public readers, checking every reference is in
/// bounds first; false if one is not (reading it would trap).
func batchIsConsistent(_ batch: SpanBatch) -> Bool {
    let check = BoundsCheck(batch: batch)
    let columns: [Int] = [batch.traceIDs.count, batch.parentSpanIDs.count, batch.traceStates.count, batch.flags.count,
                   batch.names.count, batch.kinds.count, batch.startTimes.count, batch.endTimes.count,
                   batch.spanAttributes.count, batch.droppedAttributeCounts.count, batch.spanEvents.count,
                   batch.droppedEventCounts.count, batch.spanLinks.count, batch.droppedLinkCounts.count,
                   batch.statusCodes.count, batch.statusMessages.count, batch.scopeIndices.count]
    guard columns.allSatisfy({ $0 == batch.count }), check.ownersFit() else { return false }
    for span in 0..<batch.count {
        guard Int(batch.scopeIndices[span]) < batch.scopes.count,
              check.fits(batch.traceStates[span]), check.fits(batch.names[span]), check.fits(batch.statusMessages[span]),
              check.fits(batch.spanAttributes[span], of: batch.attributes),
              check.fits(batch.spanEvents[span], batch.events.count), check.fits(batch.spanLinks[span], batch.links.count)
        else { return false }
        for event in batch.spanEvents[span].indices {
            guard check.fits(batch.events.names[event]), check.fits(batch.events.attributes[event], of: batch.eventAttributes) else { return false }
        }
        for link in batch.spanLinks[span].indices {
            guard check.fits(batch.links.traceStates[link]), check.fits(batch.links.attributes[link], of: batch.linkAttributes) else { return false }
        }
    }
    // Everything is in bounds: reading it all back must not trap.
    _ = SpanRecord.all(in: batch)
    return true
}
