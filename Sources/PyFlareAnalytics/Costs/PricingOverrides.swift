import Foundation
public import GRDB
public import PyFlareModel

/// Prices set through the API, kept in `index.db` (`pricing_overrides`) across restarts.
public struct PricingOverrides: Sendable {
    public let pool: DatabasePool

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    public func load() async throws -> [ModelPrice] {
        try await pool.read(Self.prices)
    }

    /// The prices of the index at `path` before the store opens it: WAL recovery re-prices the
    /// requests it replays, and must do so with the prices they were costed with. Nothing when
    /// there is no index yet (or one from before the table existed).
    public static func load(indexPath: String) -> [ModelPrice] {
        guard FileManager.default.fileExists(atPath: indexPath) else { return [] }
        return (try? DatabaseQueue(path: indexPath).read(prices)) ?? []
    }

    private static func prices(_ db: Database) throws -> [ModelPrice] {
        try Row.fetchAll(db, sql: "SELECT * FROM pricing_overrides ORDER BY updated_at_ns, model").map { row in
            ModelPrice(model: row["model"], provider: row["provider"], input: row["input"], output: row["output"],
                       cacheRead: row["cache_read"], cacheWrite: row["cache_write"])
        }
    }

    public func save(_ price: ModelPrice, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO pricing_overrides (model, provider, input, output, cache_read, cache_write, updated_at_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [price.model, price.provider, price.input, price.output, price.cacheRead, price.cacheWrite, now])
        }
    }
}
