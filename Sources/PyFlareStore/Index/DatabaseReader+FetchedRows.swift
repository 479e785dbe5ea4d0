public import GRDB

extension DatabaseReader {
    /// `read`, awaited, for results that hold fetched `Row`s.
    ///
    /// GRDB's `Row` is not `Sendable`, so `try await pool.read { … Row.fetchAll … }` resolves
    /// to the synchronous `read`, which blocks a thread of the cooperative pool while SQLite
    /// works. Rows fetched whole (`fetchAll`, `fetchOne`) are copies that no statement touches
    /// again, so they may cross to the awaiting task; `body` must return only such rows (never
    /// a cursor's).
    public func readRows<T>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await read { db in FetchedRows(value: try body(db)) }.value
    }
}

/// A read's result that holds rows fetched whole (see `readRows`).
private struct FetchedRows<T>: @unchecked Sendable {
    let value: T
}
