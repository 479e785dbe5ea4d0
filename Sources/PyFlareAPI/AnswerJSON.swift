import Hummingbird
import PyFlareWire

extension JSONWriter {
    /// A number of an answer: null when absent or not finite (JSON has no NaN), as stored rows are written.
    mutating func finite(_ value: Double?) {
        if let value, value.isFinite { double(value) } else { null() }
    }

    /// `{"materialized_at":…,"since":…,"until":…`: how a materialized answer over a range
    /// opens; the caller goes on with its own members.
    mutating func openMaterializedAnswer(at materializedAt: Int64?, range: Range<Int64>) {
        raw(#"{"materialized_at":"#)
        time(materializedAt)
        raw(#","since":"#)
        time(range.lowerBound)
        raw(#","until":"#)
        time(range.upperBound)
    }
}

extension Response {
    /// `{"NAME":[…]}`: an answer that is one list, each item written by `write`.
    static func jsonList<Items: Collection>(_ name: StaticString, _ items: Items, bytesPerItem: Int = 256,
                                            _ write: (Items.Element, inout JSONWriter) -> Void) -> Response {
        var json = JSONWriter(capacity: bytesPerItem * items.count + 32)
        json.raw("{")
        json.key(name)
        json.raw("[")
        json.elements(of: items, write)
        json.raw("]}")
        return .json(json)
    }
}
