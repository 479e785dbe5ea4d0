public import GRDB

extension SpanStore {
    /// `index.db`, for the scheduler's jobs and the analytics routes: they own tables of
    /// their own there (jobs, rollups, budgets, prices), created by the same migrations.
    public var indexPool: DatabasePool { index.pool }

    /// `index.db` of `dataDirectory` with its migrations applied, without opening the store
    /// (for commands run beside a server or instead of one).
    public static func openIndex(dataDirectory: String) throws(StoreError) -> DatabasePool {
        try IndexDatabase(path: dataDirectory + "/index.db").pool
    }
}
