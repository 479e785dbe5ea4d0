import Foundation
import GRDB
import PyFlareMigrations
import PyFlareTesting
import Testing
@testable import PyFlareStore

/// The migrations in migrations/ produce exactly schema/index.sql, and the embedded list
/// of migrations names exactly the .sql files of that directory.
///
/// After adding a migration, regenerate schema/index.sql with
/// `PYFLARE_WRITE_SCHEMA=1 swift test --filter SchemaTests` and review the diff.
struct SchemaTests {
    /// The package root: this file is `<root>/Tests/PyFlareStoreTests/SchemaTests.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let schemaPath = packageRoot + "/schema/index.sql"

    static let header = [
        "-- The schema of index.db, as the migrations in migrations/ produce it.",
        "--",
        "-- Generated, do not edit: SchemaTests (Tests/PyFlareStoreTests/SchemaTests.swift) migrates a",
        "-- fresh index.db, dumps sqlite_master in this form and fails when this file differs (printing",
        "-- the expected text). To change the schema, add a migration (migrations/README.md), then",
        "-- regenerate this file with",
        "--",
        "--     PYFLARE_WRITE_SCHEMA=1 swift test --filter SchemaTests",
        "--",
        "-- and review the diff.",
    ].map { $0 + "\n" }.joined() + "\n"

    /// The schema of a freshly migrated index, in the form of schema/index.sql.
    static func dump() throws -> String {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let index = try IndexDatabase(path: directory.path + "/index.db")
        let statements = try index.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master
                WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
                ORDER BY type, name
                """)
        }
        return header + statements.map { $0 + ";\n\n" }.joined()
    }

    @Test func migrationsProduceExactlyTheCheckedInSchema() throws {
        let expected = try Self.dump()
        if ProcessInfo.processInfo.environment["PYFLARE_WRITE_SCHEMA"] == "1" {
            try expected.write(toFile: Self.schemaPath, atomically: true, encoding: .utf8)
            print("wrote \(Self.schemaPath)")
        }
        let actual = try? String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        guard let actual, actual == expected else {
            Issue.record("""
                \(Self.schemaPath) \(actual == nil ? "is missing" : "differs from the migrations' schema"); \
                regenerate it with PYFLARE_WRITE_SCHEMA=1 swift test --filter SchemaTests. Expected:
                \(expected)
                """)
            return
        }
        // The dump holds every table and index of the migrations.
        for name in ["segments", "segments_by_time", "trace_index", "trace_index_by_segment", "traces", "traces_by_start",
                     "store_state", "schema_migrations"] {
            #expect(expected.contains(" \(name) "), "\(name) is in the schema")
        }
    }

    @Test func theDumpIsStable() throws {
        #expect(try Self.dump() == Self.dump())
    }

    @Test func migrationsListNamesEveryFileOfTheDirectoryInOrder() throws {
        let directory = Self.packageRoot + "/migrations"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(IndexMigration.all.map(\.name) == files.map { String($0.dropLast(4)) })
        for (migration, file) in zip(IndexMigration.all, files) {
            // The embedded text is the file's.
            #expect(migration.sql == (try String(contentsOfFile: directory + "/" + file, encoding: .utf8)), "\(file)")
        }
        // Numbered NNNN_name, from 0001, without gaps.
        for (position, migration) in IndexMigration.all.enumerated() {
            let number = migration.name.prefix(4)
            #expect(migration.name.count > 5 && migration.name.dropFirst(4).first == "_", "\(migration.name)")
            #expect(Int(number) == position + 1, "\(migration.name) is migration \(position + 1)")
        }
    }

    @Test func migratingTwiceAppliesEachMigrationOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/index.db"
        _ = try IndexDatabase(path: path)
        let index = try IndexDatabase(path: path)
        let applied = try index.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, applied_at_ns FROM schema_migrations ORDER BY name")
        }
        #expect(applied.map { $0["name"] as String } == IndexMigration.all.map(\.name))
        #expect(applied.allSatisfy { ($0["applied_at_ns"] as Int64) > 1_600_000_000_000_000_000 })
        // A migration not recorded as applied is applied at the next open: 0001 then meets its own
        // tables, and the open fails (in a rolled-back transaction) instead of going on half-migrated.
        try index.pool.write { db in
            try db.execute(sql: "DELETE FROM schema_migrations")
        }
        let error = #expect(throws: StoreError.self) { try IndexDatabase(path: path) }
        #expect(error?.code == .database)
        let tables = try index.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        #expect(tables == ["alert_deliveries", "alert_events", "alert_rules", "budget_alerts", "budgets", "compaction_runs", "cost_attribution_1h", "cost_by_dimension_1d", "cost_by_dimension_1h",
                           "drift_references", "drift_scores", "evaluations", "failure_cluster_members", "failure_templates", "job_runs", "jobs", "metric_names",
                           "pricing_overrides", "rca_patterns", "rca_slices", "retention_policy", "rollup_1d", "rollup_1h", "rollup_1m", "schema_migrations",
                           "segment_deletions", "segments", "sessions_1h", "source_offsets", "store_state", "trace_index", "traces", "users_1h"])
    }
}
