/// Object members, one call each: `json.member("model", price.model)` writes `,"model":"gpt-4o"`.
///
/// The comma is written when the object already holds a member, which the last byte tells:
/// right after `{` there is none yet. So a field name is spelled once, as the name alone,
/// and a member can move or be left out without touching its neighbours.
extension JSONWriter {
    /// Writes `"name":`, after a comma unless it opens the object.
    @inlinable public mutating func key(_ name: StaticString) {
        if let last = bytes.last, last != UInt8(ascii: "{") { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    /// `null` when absent, here and in every optional overload.
    public mutating func member(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    public mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        bool(value)
    }

    public mutating func member(_ name: StaticString, _ value: Bool?) {
        key(name)
        if let value { bool(value) } else { null() }
    }

    public mutating func member(_ name: StaticString, _ value: Int64) {
        key(name)
        int(value)
    }

    public mutating func member(_ name: StaticString, _ value: Int64?) {
        key(name)
        if let value { int(value) } else { null() }
    }

    public mutating func member(_ name: StaticString, _ value: Int) {
        key(name)
        int(Int64(value))
    }

    public mutating func member(_ name: StaticString, _ value: Int?) {
        key(name)
        if let value { int(Int64(value)) } else { null() }
    }

    public mutating func member(_ name: StaticString, _ value: UInt64) {
        key(name)
        uint(value)
    }

    public mutating func member(_ name: StaticString, _ value: Double) {
        key(name)
        double(value)
    }

    public mutating func member(_ name: StaticString, _ value: Double?) {
        key(name)
        if let value { double(value) } else { null() }
    }

    /// `["a","b"]`.
    public mutating func member(_ name: StaticString, _ values: some Sequence<String>) {
        key(name)
        strings(values)
    }

    /// `[1.5,2]`, non-finite values as null.
    public mutating func member(_ name: StaticString, _ values: [Double]) {
        key(name)
        doubles(values)
    }

    /// An amount kept in millionths, as whole units (`cost_micros` → dollars).
    public mutating func member(_ name: StaticString, micros value: Int64) {
        key(name)
        micros(value)
    }

    public mutating func member(_ name: StaticString, micros value: Int64?) {
        key(name)
        if let value { micros(value) } else { null() }
    }

    /// RFC 3339 text of Unix nanoseconds, or null.
    public mutating func member(_ name: StaticString, time nanoseconds: Int64?) {
        key(name)
        time(nanoseconds)
    }

    public mutating func member(_ name: StaticString, rfc3339 nanoseconds: UInt64) {
        key(name)
        rfc3339(nanoseconds)
    }
}

extension JSONWriter {
    /// Each of `items` written by `write`, with a comma between two: the inside of an array.
    @inlinable
    public mutating func elements<Items: Sequence>(of items: Items, _ write: (Items.Element, inout JSONWriter) -> Void) {
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            write(item, &self)
        }
    }
}
