import GRDB
import PyFlareWire

/// How one column of an index row is written into a JSON object.
struct RowField {
    enum Kind {
        case text, integer, real, boolean
        /// Unix nanoseconds, written as RFC 3339 text.
        case time
        /// A column holding JSON, copied as is.
        case json
    }

    let key: String
    let column: String
    let kind: Kind

    init(_ key: String, _ column: String? = nil, _ kind: Kind = .text) {
        self.key = key
        self.column = column ?? key
        self.kind = kind
    }
}

extension JSONWriter {
    /// `row` as a JSON object of `fields`; NULL columns are written as null.
    mutating func object(_ row: Row, _ fields: [RowField]) {
        raw("{")
        for (index, field) in fields.enumerated() {
            if index > 0 { raw(",") }
            string(field.key)
            raw(":")
            let value: DatabaseValue = row[field.column]
            guard !value.isNull else {
                null()
                continue
            }
            switch field.kind {
            case .text: string(String.fromDatabaseValue(value) ?? "")
            case .integer: int(Int64.fromDatabaseValue(value) ?? 0)
            case .real:
                let number = Double.fromDatabaseValue(value) ?? .nan
                if number.isFinite { double(number) } else { null() }
            case .boolean: bool((Int64.fromDatabaseValue(value) ?? 0) != 0)
            case .time: time(Int64.fromDatabaseValue(value))
            case .json: bytes.append(contentsOf: (String.fromDatabaseValue(value) ?? "null").utf8)
            }
        }
        raw("}")
    }
}

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
