// The migrations of index.db, in the order they apply. SwiftPM embeds each file of this
// directory as bytes (Package.swift lists them); add a new file here and below.
// A test checks that this list names every .sql file of the directory.

/// One numbered step of the index schema.
public struct IndexMigration: Sendable {
    /// The file name without `.sql`, e.g. `0001_initial`; recorded in the index when applied.
    public let name: String
    public let sql: String

    init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.sql = String(decoding: bytes, as: UTF8.self)
    }

    public static let all: [IndexMigration] = [
        IndexMigration("0001_initial", PackageResources._001_initial_sql),
        IndexMigration("0002_logs_and_metrics", PackageResources._002_logs_and_metrics_sql),
        IndexMigration("0003_analytics", PackageResources._003_analytics_sql),
        IndexMigration("0004_cost_by_dimension", PackageResources._004_cost_by_dimension_sql),
        IndexMigration("0005_root_cause", PackageResources._005_root_cause_sql),
        IndexMigration("0006_quality", PackageResources._006_quality_sql),
        IndexMigration("0007_retention", PackageResources._007_retention_sql),
        IndexMigration("0008_cost_by_key", PackageResources._008_cost_by_key_sql),
        IndexMigration("0009_cancelled_runs", PackageResources._009_cancelled_runs_sql),
        IndexMigration("0010_sessions_users", PackageResources._010_sessions_users_sql),
        IndexMigration("0011_trace_feature_environment", PackageResources._011_trace_feature_environment_sql),
        IndexMigration("0012_alerts", PackageResources._012_alerts_sql),
        IndexMigration("0013_alert_kinds", PackageResources._013_alert_kinds_sql),
        IndexMigration("0014_evaluation_feature", PackageResources._014_evaluation_feature_sql),
        IndexMigration("0015_source_offsets", PackageResources._015_source_offsets_sql),
        IndexMigration("0016_remote_segments", PackageResources._016_remote_segments_sql),
    ]
}
