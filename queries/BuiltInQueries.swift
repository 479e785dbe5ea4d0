// The built-in SQL jobs, in the order they run when due together: each reads the outputs
// of the jobs before it. SwiftPM embeds each file of this directory as bytes (Package.swift
// lists them); add a new file here and there. A test checks that this list names every
// .sql file of the directory.

/// One `.sql` job shipped with the server.
public struct BuiltInQuery: Sendable {
    /// The file name, e.g. `rollup_1m.sql`.
    public let file: String
    public let text: String

    init(_ file: String, _ bytes: [UInt8]) {
        self.file = file
        self.text = String(decoding: bytes, as: UTF8.self)
    }

    public static let all: [BuiltInQuery] = [
        BuiltInQuery("rollup_1m.sql", PackageResources.rollup_1m_sql),
        BuiltInQuery("rollup_1h.sql", PackageResources.rollup_1h_sql),
        BuiltInQuery("rollup_1d.sql", PackageResources.rollup_1d_sql),
        BuiltInQuery("cost_attribution_1h.sql", PackageResources.cost_attribution_1h_sql),
        BuiltInQuery("cost_by_dimension_1h.sql", PackageResources.cost_by_dimension_1h_sql),
        BuiltInQuery("cost_by_dimension_1d.sql", PackageResources.cost_by_dimension_1d_sql),
        BuiltInQuery("sessions_1h.sql", PackageResources.sessions_1h_sql),
        BuiltInQuery("users_1h.sql", PackageResources.users_1h_sql),
    ]
}
