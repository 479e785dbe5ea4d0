import GRDB

/// The WHERE clause of a read model's query: conditions joined by AND, with their arguments
/// in order. Values go in as arguments, never into the text.
struct WhereClause {
    private(set) var conditions: [String] = []
    private(set) var arguments = StatementArguments()

    init(_ condition: String, _ values: any DatabaseValueConvertible...) {
        add(condition, values: values)
    }

    mutating func add(_ condition: String, _ values: any DatabaseValueConvertible...) {
        add(condition, values: values)
    }

    mutating func add(_ condition: String, values: [any DatabaseValueConvertible]) {
        conditions.append(condition)
        arguments += StatementArguments(values)
    }

    /// `column = ?` for each column given a value.
    mutating func equal(_ pairs: [(column: String, value: String?)]) {
        for (column, value) in pairs {
            if let value { add("\(column) = ?", values: [value]) }
        }
    }

    var sql: String { conditions.joined(separator: " AND ") }
}
