import GRDB

/// The WHERE clause of a read of an index table: its conditions and their arguments, built
/// from a request's filters.
struct RowFilter: Sendable {
    private(set) var conditions: [String] = []
    private(set) var arguments = StatementArguments()

    mutating func add(_ condition: String, _ values: (any DatabaseValueConvertible)?...) {
        conditions.append(condition)
        arguments += StatementArguments(values)
    }

    /// `column = ?` for each of `columns` the request gives a value (parameter and column share the name).
    mutating func equal(_ columns: [String], in parameters: QueryParameters) {
        for column in columns {
            if let value = parameters.text(column) { add("\(column) = ?", value) }
        }
    }

    var sql: String { conditions.joined(separator: " AND ") }

    /// The arguments, followed by those of the rest of the statement (a LIMIT).
    func statementArguments(then more: (any DatabaseValueConvertible)?...) -> StatementArguments {
        arguments + StatementArguments(more)
    }
}
