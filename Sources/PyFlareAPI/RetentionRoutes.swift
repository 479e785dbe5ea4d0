import Foundation
public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// Retention (`docs/retention.md`): `GET /api/v1/retention` (the policy in force, what the
/// store holds, the last compaction), `PUT` (a new policy, kept in the index), `DELETE`
/// (back to the configuration's), `POST /api/v1/retention/compact[?dry_run=true]` (a
/// compaction now, answered with its report) and `GET /api/v1/retention/runs`.
public struct RetentionRoutes: Sendable {
    let job: RetentionJob
    let policies: RetentionPolicies
    let settings: RetentionSettings
    let compactor: SegmentCompactor
    let scheduler: Scheduler
    let disk: DiskSpaceGuard?

    public init(job: RetentionJob, policies: RetentionPolicies, settings: RetentionSettings, compactor: SegmentCompactor,
                scheduler: Scheduler, disk: DiskSpaceGuard?) {
        self.job = job
        self.policies = policies
        self.settings = settings
        self.compactor = compactor
        self.scheduler = scheduler
        self.disk = disk
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/retention") { _, _ in try await show() }
        routes.api("/api/v1/retention", method: .put) { request, _ in
            let body = try await JSONBody.read(request, maxBytes: 1 << 20)
            let policy: RetentionPolicy
            do {
                policy = try RetentionPolicy.parse(body, base: policies.configured)
            } catch let error as RetentionPolicyError {
                throw APIError.invalid(error.field, error.message)
            }
            try await policies.replace(with: policy)
            return try await show()
        }
        routes.api("/api/v1/retention", method: .delete) { _, _ in
            try await policies.reset()
            return try await show()
        }
        routes.api("/api/v1/retention/compact", method: .post) { request, _ in
            let parameters = QueryParameters(request)
            let dryRun = try parameters.boolean("dry_run") ?? false
            guard let report = try await job.compact(trigger: .api, dryRun: dryRun, leasedFrom: scheduler) else {
                throw APIError(.conflict, code: "busy", "a compaction is running already (scheduled, or pyflare compact); try again later")
            }
            var json = JSONWriter()
            json.bytes = report.json
            return .json(json)
        }
        routes.api("/api/v1/retention/runs") { request, _ in try await runs(QueryParameters(request)) }
        return routes
    }

    func show() async throws -> Response {
        let (policy, source) = try await policies.current()
        let storage = try await compactor.storageSummary()
        let floors = storage.retentionFloors
        let compaction = settings.compaction
        var json = JSONWriter()
        json.raw("{"); json.key("policy"); json.bytes += policy.json
        json.member("source", source)
        json.member("schedule", settings.schedule.description)
        json.key("compaction"); json.raw("{")
        json.member("target_segment_bytes", compaction.targetSegmentBytes)
        json.member("small_segment_bytes", compaction.smallSegmentBytes)
        json.member("delete_grace_seconds", compaction.deleteGrace.components.seconds)
        json.member("max_bytes_per_second", compaction.maxBytesPerSecond)
        json.raw("}"); json.key("storage"); json.raw("{")
        json.member("segment_bytes", storage.segmentBytes)
        json.member("index_bytes", storage.indexBytes)
        json.member("pending_deletion_bytes", storage.pendingDeletionBytes)
        for kind in SegmentKind.allCases {
            let summary = storage.kinds[kind] ?? .init()
            json.raw(","); json.string(kind.name); json.raw(":{")
            json.member("segments", summary.segments)
            json.member("rows", summary.rows)
            json.member("bytes", summary.bytes)
            json.member("remote_segments", summary.remoteSegments)
            json.member("remote_bytes", summary.remoteBytes)
            json.key("oldest"); time(summary.oldest, &json)
            json.key("newest"); time(summary.newest, &json)
            json.key("retention_floor"); time(floors[kind], &json)
            json.raw("}")
        }
        json.raw("}"); json.key("disk"); json.raw("{")
        json.member("min_free_bytes", disk?.floor ?? 0)
        json.member("low", disk?.isLow ?? false)
        json.raw("}")
        json.key("last_compaction")
        if let last = try await lastRuns(limit: 1).first { json.bytes += last } else { json.null() }
        json.raw("}")
        return .json(json)
    }

    func runs(_ parameters: QueryParameters) async throws -> Response {
        let limit = try parameters.limit(default: 20, maximum: 1000)
        var json = JSONWriter()
        json.raw("{"); json.key("runs"); json.raw("[")
        json.elements(of: try await lastRuns(limit: limit)) { run, json in
            json.bytes += run
        }
        json.raw("]}")
        return .json(json)
    }

    /// The latest compaction runs, newest first, each as a JSON object.
    private func lastRuns(limit: Int) async throws -> [[UInt8]] {
        try await job.latestRuns(limit: limit).map { run in
            var json = JSONWriter()
            json.raw("{"); json.member("id", run.id)
            json.member("trigger", run.trigger)
            json.member("dry_run", run.dryRun)
            json.member("started_at", RFC3339.string(signed: run.started))
            json.key("finished_at")
            if let finished = run.finished { json.string(RFC3339.string(signed: finished)) } else { json.null() }
            json.key("error")
            if let error = run.error { json.string(error) } else { json.null() }
            json.key("report")
            if let report = run.report { json.bytes += Array(report.utf8) } else { json.null() }
            json.raw("}")
            return json.bytes
        }
    }

    private func time(_ value: Int64?, _ json: inout JSONWriter) {
        if let value { json.string(RFC3339.string(signed: value)) } else { json.null() }
    }
}
