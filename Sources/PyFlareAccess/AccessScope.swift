/// What a key may do. `admin` includes the other two.
public enum AccessScope: String, Sendable, CaseIterable {
    /// OTLP (HTTP and gRPC) and the JSON telemetry API: writing data.
    case ingest
    /// Every GET of the API and SQL: reading data.
    case read
    /// Everything of its project (keys and projects too, for a key of all projects).
    case admin

    func grants(_ scope: AccessScope) -> Bool {
        self == .admin || self == scope
    }
}

/// What a route asks of the request's key.
public enum AccessRequirement: String, Sendable {
    /// Liveness, readiness and the UI's static files: answered to anyone.
    case `public`
    case read
    case ingest
    case admin
    /// Keys and projects: an admin key of all projects.
    case globalAdmin = "global_admin"
}
