import Foundation
public import Hummingbird
public import PyFlareAnalytics
import PyFlareWire

/// `GET /api/v1/jobs` (every job with its last run, next run and watermark),
/// `GET /api/v1/jobs/{name}/runs` and `POST /api/v1/jobs/{name}/run` (202: the run starts
/// as soon as the scheduler is free and shows in the runs).
public struct JobRoutes: Sendable {
    let scheduler: Scheduler

    public init(scheduler: Scheduler) {
        self.scheduler = scheduler
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/jobs") { _, _ in try await list() }
        routes.api("/api/v1/jobs/:name/runs") { request, context in
            try await runs(try context.parameters.path("name"), QueryParameters(request))
        }
        routes.api("/api/v1/jobs/:name/run", method: .post) { _, context in
            let name = try context.parameters.path("name")
            guard scheduler.request(name) else { throw APIError.notFound("no job named \"\(name)\"") }
            var json = JSONWriter()
            json.raw("{")
            json.member("job", name)
            json.raw(#","status":"queued"}"#)
            return .json(json, status: .accepted)
        }
        return routes
    }

    func list() async throws -> Response {
        let statuses = try await JobLedger(pool: scheduler.pool).jobs()
        let now = UnixTime.nowNanoseconds()
        var json = JSONWriter(capacity: 512 * statuses.count + 64)
        json.raw(#"{"jobs":["#)
        var first = true
        for job in scheduler.catalog.jobs {
            guard let status = statuses.first(where: { $0.name == job.name }) else { continue }
            if !first { json.byte(UInt8(ascii: ",")) }
            first = false
            json.raw("{")
            json.member("name", job.name)
            json.member("kind", job.kind)
            json.member("source", job.source)
            json.member("schedule", job.schedule.description)
            json.member("output_table", job.outputTable)
            json.member("watermark", time: status.watermark)
            json.member("running", status.runningSince != nil)
            json.key("next_run")
            if scheduler.isScheduling {
                let next = status.lastRun.map { job.schedule.nextRun(after: $0.finished ?? $0.started) } ?? now
                json.time(max(next, now))
            } else {
                json.null()
            }
            json.key("last_run")
            if let run = status.lastRun { Self.run(run, into: &json) } else { json.null() }
            json.byte(UInt8(ascii: "}"))
        }
        json.raw(#"],"problems":["#)
        json.elements(of: scheduler.catalog.problems) { problem, json in
            json.raw("{")
            json.member("file", problem.file)
            json.member("line", problem.line)
            json.member("message", problem.message)
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
        return .json(json)
    }

    func runs(_ name: String, _ parameters: QueryParameters) async throws -> Response {
        guard scheduler.catalog[name] != nil else { throw APIError.notFound("no job named \"\(name)\"") }
        let limit = try parameters.limit(default: 50, maximum: 500)
        let runs = try await JobLedger(pool: scheduler.pool).runs(of: name, limit: limit)
        return .jsonList("runs", runs, bytesPerItem: 256) { run, json in
            Self.run(run, into: &json)
        }
    }

    static func run(_ run: JobLedger.RunRecord, into json: inout JSONWriter) {
        json.raw("{")
        json.member("id", run.id)
        json.member("trigger", run.trigger)
        json.member("status", run.status)
        json.member("started_at", time: run.started)
        json.member("finished_at", time: run.finished)
        json.key("duration_ms")
        if let finished = run.finished { json.double(Double(finished - run.started) / 1e6) } else { json.null() }
        json.member("rows", run.rows)
        json.member("window_start", time: run.windowStart)
        json.member("window_end", time: run.windowEnd)
        json.member("error", run.error)
        json.byte(UInt8(ascii: "}"))
    }
}
