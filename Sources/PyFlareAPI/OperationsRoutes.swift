public import Hummingbird
public import PyFlareIngest
public import PyFlareStore
import PyFlareWire

/// `GET /api/v1/operations`: what the project's ingest and store are doing now — accepted and
/// refused counts (since start and per minute of the last hour), the queue against its bound,
/// the unsealed records, the WAL on disk and the free space against its floor. Storage per
/// kind and compaction are `GET /api/v1/retention`; jobs are `GET /api/v1/jobs`.
public struct OperationsRoutes: Sendable {
    let activity: IngestActivity
    let batcher: Batcher
    let store: SpanStore
    let disk: DiskSpaceGuard?

    public init(activity: IngestActivity, batcher: Batcher, store: SpanStore, disk: DiskSpaceGuard?) {
        self.activity = activity
        self.batcher = batcher
        self.store = store
        self.disk = disk
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/operations") { _, _ in try await operations() }
        return routes
    }

    func operations() async throws -> Response {
        let now = UnixTime.nowNanoseconds()
        let snapshot = activity.snapshot(now: now)
        let wal = try await store.walUsage()
        let configuration = store.configuration
        var json = JSONWriter(capacity: 16 << 10)
        json.raw("{")
        json.member("now", time: now)
        json.member("started_at", time: snapshot.started)
        json.member("uptime_seconds", (now - snapshot.started) / 1_000_000_000)
        json.key("ingest")
        json.raw("{")
        json.key("totals")
        Self.write(snapshot.total, into: &json)
        // The last complete minute: the current one is partial.
        let lastMinute = snapshot.minutes.dropLast().last?.counts ?? .init()
        json.member("spans_per_second", Double(lastMinute[.spansAccepted]) / 60)
        json.key("per_minute")
        json.raw("[")
        json.elements(of: snapshot.minutes) { minute, json in
            Self.write(minute.counts, into: &json, opened: true)
            json.member("start", time: minute.start)
            json.raw("}")
        }
        json.raw("]")
        json.key("queue")
        json.raw("{")
        json.member("spans", batcher.heldSpans)
        json.member("capacity_spans", batcher.configuration.maxQueuedSpans)
        json.member("bytes", batcher.heldBytes)
        json.member("capacity_bytes", batcher.configuration.maxQueuedBytes)
        json.member("batch_spans", batcher.configuration.maxBatchSpans)
        json.member("workers", batcher.configuration.workers)
        json.raw("}}")
        json.key("store")
        json.raw("{")
        json.member("unsealed_spans", store.unsealedSpanCount)
        json.member("unsealed_bytes", store.unsealedBytes)
        json.member("max_unsealed_bytes", configuration.maxUnsealedBytes)
        json.member("segment_max_age_ms", configuration.segmentMaxAge.inNanoseconds / 1_000_000)
        json.member("wal_files", wal.files)
        json.member("wal_bytes", wal.bytes)
        json.member("wal_fsync", configuration.walSync.rawValue)
        json.raw("}")
        json.key("disk")
        if let disk {
            json.raw("{")
            json.member("free_bytes", disk.measuredFreeBytes)
            json.member("min_free_bytes", disk.floor)
            json.member("low", disk.isLow)
            json.raw("}")
        } else {
            json.null()
        }
        json.raw("}")
        return .json(json)
    }

    /// Every count by its API name; `opened` leaves the object open for more members.
    static func write(_ counts: IngestActivity.Counts, into json: inout JSONWriter, opened: Bool = false) {
        json.raw("{")
        for event in IngestActivity.Event.allCases {
            json.key(event.name)
            json.int(Int64(counts[event]))
        }
        if !opened { json.raw("}") }
    }
}
