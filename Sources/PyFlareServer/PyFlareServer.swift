import Foundation
public import GRDB
public import Logging
import Hummingbird
import NIOCore
import Prometheus
public import PyFlareAnalytics
import PyFlareAPI
import PyFlareGRPC
import PyFlareIngest
import PyFlareModel
import PyFlareWire
public import PyFlareStore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Wires receivers, pipeline, batcher, sink and API into one `ServiceGroup` and runs it
/// until SIGINT/SIGTERM.
///
/// Services stop in reverse order of registration: the API and the receivers stop
/// accepting first, then the batcher drains into the sink and closes it.
public struct PyFlareServer: Sendable {
    public let configuration: PyFlareConfiguration
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    public init(configuration: PyFlareConfiguration, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
    }

    public func run() async throws {
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(key: "data_dir", "cannot create \(configuration.dataDirectory): \(error.localizedDescription)")
        }
        SQLLane.adHoc.limitWaiting(to: configuration.sql.maxQueued)
        // Prices set through the API live in the index, so only a server with the store has
        // them; they are read before the store opens, so that WAL recovery re-prices the
        // requests it replays as they were priced when received.
        var apiPrices = configuration.sink.kind == .store
            ? PricingOverrides.load(indexPath: configuration.dataDirectory + "/index.db") : []
        let pricing = LivePricing(config: configuration.pricingOverrides, api: apiPrices).table
        let sink = try await makeSink(pricing: pricing)
        let store = sink as? SpanStore
        if let store { apiPrices = try await PricingOverrides(pool: store.indexPool).load() }
        let livePricing = LivePricing(config: configuration.pricingOverrides, api: apiPrices)
        let samplerConfiguration = try configuration.samplerConfiguration()
        let metrics = IngestMetrics(samplerStrategy: samplerConfiguration.name)
        let batcher = Batcher(configuration: configuration.batcher, sink: sink, metrics: metrics,
                              logger: logger.with(label: "pyflare.batcher"))
        let pipeline = IngestPipeline(normalizer: SpanNormalizer(pricing: livePricing), sampler: Sampler(samplerConfiguration),
                                      batcher: batcher, metrics: metrics)

        let disk = DiskSpaceGuard(directory: configuration.dataDirectory, floor: configuration.minFreeBytes,
                                  logger: logger.with(label: "pyflare.disk"), pendingWrites: { Int64(store?.unsealedBytes ?? 0) })
        disk.check()
        let export = OTLPExport(pipeline: pipeline, records: sink, admission: disk)
        let listeners = ListenerReadiness(["OTLP/HTTP receiver", "OTLP/gRPC receiver", "REST API"])
        let otlpGRPC = OTLPGRPCReceiver(
            export: export, host: configuration.otlpGRPC.host, port: configuration.otlpGRPC.port,
            maxMessageBytes: configuration.otlpGRPCMaxMessageBytes, logger: logger.with(label: "pyflare.otlp.grpc"),
            onListening: { listeners.listening("OTLP/gRPC receiver") })
        let otlpRouter = Router()
        OTLPHTTPReceiver(export: export, maxBodyBytes: configuration.otlpHTTPMaxBodyBytes,
                         logger: logger.with(label: "pyflare.otlp")).addRoutes(to: otlpRouter)
        let otlpHTTP = application(otlpRouter, listener: configuration.otlpHTTP, name: "OTLP/HTTP receiver", label: "pyflare.otlp.http",
                                   listeners: listeners)

        let apiRouter = Router(context: APIRequestContext.self)
        // First, so that they guard every route added after them.
        apiRouter.add(middleware: BrowserRequestGuard(extraHosts: configuration.apiAllowedHosts))
        if configuration.sink.kind != .store {
            apiRouter.add(middleware: StoreRequiredMiddleware(reason: "this API needs sink.kind: store (it is \(configuration.sink.kind.rawValue))"))
        }
        let dataDirectory = configuration.dataDirectory
        APIRoutes(registry: registry, readiness: {
            listeners.problems + Self.readinessProblems(dataDirectory: dataDirectory) + [disk.refusal].compactMap { $0 }
        }).addRoutes(to: apiRouter)
        // The web UI at `/`, there with or without the store (its views say what the API answers).
        UIRoutes().addRoutes(to: apiRouter)
        var telemetryReaper: TelemetrySpanReaper?
        var scheduler: Scheduler?
        if let store {
            let compactor = store.compactor()
            let jobScheduler = await makeScheduler(store: store, pricing: livePricing, export: export, compactor: compactor, disk: disk)
            JobRoutes(scheduler: jobScheduler).addRoutes(to: apiRouter)
            if case .swift(let job as RetentionJob) = jobScheduler.catalog[RetentionJob.jobName]?.work {
                RetentionRoutes(job: job, policies: job.policies, settings: configuration.retention, compactor: compactor,
                                scheduler: jobScheduler, disk: disk).addRoutes(to: apiRouter)
            }
            CostRoutes(costs: CostReadModel(pool: store.indexPool), pricingVersion: { livePricing.version }).addRoutes(to: apiRouter)
            // The analysis routes' own statements answer within a user's time limit, on the
            // server's lane and never cut by the row limit meant for ad-hoc SQL.
            let analysisLimits = SQLLimits(timeout: configuration.sql.timeout, maxRows: configuration.schedulerSettings.jobLimits.maxRows)
            let analysisEngine = store.sqlEngine(limits: analysisLimits, lane: .internalWork)
            RCARoutes(rca: RCAReadModel(pool: store.indexPool, engine: analysisEngine,
                                        sliceSettings: configuration.rca.slices)).addRoutes(to: apiRouter)
            PricingRoutes(pricing: livePricing, overrides: PricingOverrides(pool: store.indexPool)).addRoutes(to: apiRouter)
            EvaluationRoutes(evaluations: EvaluationReadModel(pool: store.indexPool), rules: configuration.quality.verdicts).addRoutes(to: apiRouter)
            let drift = configuration.quality.drift
            DriftRoutes(drift: DriftReadModel(pool: store.indexPool, settings: drift),
                        computation: DriftComputation(settings: drift, engine: analysisEngine, limits: analysisLimits, pool: store.indexPool),
                        settings: drift).addRoutes(to: apiRouter)
            scheduler = jobScheduler
            TraceRoutes(store: store, pricing: pricing).addRoutes(to: apiRouter)
            LogRoutes(store: store).addRoutes(to: apiRouter)
            MetricRoutes(store: store).addRoutes(to: apiRouter)
            SQLRoutes(engine: store.sqlEngine(limits: configuration.sql)).addRoutes(to: apiRouter)
            let spans = TelemetrySpans(configuration: configuration.telemetry)
            let writer = TelemetryWriter(export: export, serviceName: configuration.telemetry.serviceName)
            TelemetryRoutes(spans: spans, writer: writer, store: store).addRoutes(to: apiRouter)
            telemetryReaper = TelemetrySpanReaper(spans: spans, writer: writer, logger: logger.with(label: "pyflare.telemetry"))
        }
        let api = application(apiRouter, listener: configuration.api, name: "REST API", label: "pyflare.api", listeners: listeners)

        logger.info("starting", metadata: [
            "data_dir": "\(configuration.dataDirectory)", "sink": "\(configuration.sink.kind.rawValue)",
            "sampler": "\(samplerConfiguration.name)", "pricing": "\(livePricing.table.entries.count) models (\(livePricing.version))",
        ])
        // Services stop in reverse order: the drain trigger first (so requests waiting on the
        // batcher's flush interval are answered), then the telemetry reaper (it writes the open
        // telemetry spans while the API still answers), then the API and the receivers, then the batcher.
        // The scheduler stops after the API and before the batcher closes the store.
        var services: [any Service] = [batcher, DiskMonitor(disk: disk)]
        if let scheduler { services.append(scheduler) }
        services.append(contentsOf: [otlpHTTP, otlpGRPC, api] as [any Service])
        if let telemetryReaper { services.append(telemetryReaper) }
        services.append(DrainTrigger(batcher: batcher))
        services.append(SQLInterrupter())
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
        logger.info("stopped")
    }

    /// An HTTP server for `router` on `listener` that logs where it listens.
    func application<Context: RequestContext>(_ router: Router<Context>, listener: PyFlareConfiguration.Listener, name: String,
                                               label: String, listeners: ListenerReadiness) -> some Service
        where Context.Source == ApplicationRequestContextSource {
        let idle = TimeAmount.nanoseconds(Int64(configuration.httpIdleTimeout.inSeconds * 1e9))
        let body = TimeAmount.nanoseconds(Int64(configuration.httpBodyTimeout.inSeconds * 1e9))
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [HTTPConnectionGuard(idleTimeout: idle, bodyTimeout: body)])),
            configuration: .init(address: .hostname(listener.host, port: listener.port), serverName: "pyflare"),
            onServerRunning: { [logger] channel in
                listeners.listening(name)
                logger.info("\(name) listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger.with(label: label))
    }

    /// The scheduler with the built-in jobs, the user's `.sql` files and the budget job.
    func makeScheduler(store: SpanStore, pricing: LivePricing, export: OTLPExport, compactor: SegmentCompactor,
                       disk: DiskSpaceGuard) async -> Scheduler {
        let notifier = configuration.budgetWebhookURL.map {
            WebhookNotifier(url: $0, attempts: configuration.budgetWebhookAttempts, logger: logger.with(label: "pyflare.budgets"))
        }
        // The judge's own calls go through ingest like any exporter's spans, so they are stored and costed.
        let judgeTracer: @Sendable ([UInt8]) async -> Void = { body in _ = await export.export(.traces, body: body, json: false) }
        return await Self.scheduler(configuration: configuration, pool: store.indexPool,
                                    engine: store.sqlEngine(limits: configuration.schedulerSettings.jobLimits, lane: .internalWork),
                                    notifier: notifier, pricing: { pricing.table.price(for: $0) }, judgeTracer: judgeTracer,
                                    compactor: compactor, disk: disk, owner: "server", logger: logger.with(label: "pyflare.scheduler"))
    }

    /// The jobs of `configuration` (built-in, its queries directory, budgets) on a data
    /// directory's index and SQL engine: the server's scheduler, and `pyflare jobs`'.
    public static func scheduler(configuration: PyFlareConfiguration, pool: DatabasePool, engine: SQLEngine,
                                 notifier: WebhookNotifier?, pricing: @escaping @Sendable (String) -> ModelPrice?,
                                 judgeTracer: (@Sendable ([UInt8]) async -> Void)?, compactor: SegmentCompactor, disk: DiskSpaceGuard?,
                                 owner: String, logger: Logger) async -> Scheduler {
        let settings = configuration.schedulerSettings
        let rca = configuration.rca, quality = configuration.quality
        var swiftJobs: [any AnalyticsJob] = [
            BudgetJob(notifier: notifier),
            FailureClusterJob(schedule: rca.clustersSchedule, similarity: rca.clusterSimilarity),
            SliceAnalysisJob(schedule: rca.slicesSchedule, settings: rca.slices),
            PatternDetectionJob(schedule: rca.patternsSchedule, settings: rca.patterns),
            EvaluationJob(schedule: quality.evaluationsSchedule, rules: quality.verdicts),
            RAGEvaluationJob(schedule: quality.ragSchedule, rules: quality.verdicts),
            DriftJob(schedule: quality.driftSchedule, settings: quality.drift),
        ]
        if quality.judge.enabled {
            swiftJobs.append(JudgeJob(schedule: quality.judgeSchedule, settings: quality.judge, pricing: pricing, tracer: judgeTracer))
        }
        var catalog = await JobCatalog.load(userDirectory: settings.queriesDirectory, swiftJobs: swiftJobs, engine: engine)
        catalog.append(RetentionJob(compactor: compactor, policies: RetentionPolicies(pool: pool, configured: configuration.retention.policy),
                                    settings: configuration.retention, outputs: catalog.sqlOutputs + MaterializedTable.builtIn, disk: disk))
        return Scheduler(catalog: catalog, pool: pool, engine: engine, settings: settings, owner: owner, logger: logger)
    }

    func makeSink(pricing: PricingTable) async throws -> any SpanSink & RecordSink {
        switch configuration.sink.kind {
        case .store:
            var store = configuration.store
            store.dataDirectory = configuration.dataDirectory
            return try await SpanStore.open(configuration: store, pricing: pricing, logger: logger.with(label: "pyflare.store"))
        case .counting:
            return CountingSink()
        case .file:
            let directory = configuration.sink.fileDirectory.hasPrefix("/")
                ? configuration.sink.fileDirectory
                : configuration.dataDirectory + "/" + configuration.sink.fileDirectory
            return try JSONLinesFileSink(
                configuration: .init(directory: directory, maxFileBytes: configuration.sink.fileMaxBytes, maxFiles: configuration.sink.fileMaxFiles),
                pricing: pricing)
        }
    }

    /// Problems that should keep load balancers away: for now, a data directory we cannot write.
    static func readinessProblems(dataDirectory: String) -> [String] {
        FileManager.default.isWritableFile(atPath: dataDirectory) ? [] : ["data directory \(dataDirectory) is not writable"]
    }
}

extension Logger {
    /// A logger with another label and the same level.
    func with(label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = logLevel
        return logger
    }
}

/// Measures the free space under the data directory every second until shutdown.
struct DiskMonitor: Service {
    let disk: DiskSpaceGuard

    func run() async throws {
        await cancelWhenGracefulShutdown { await disk.monitor() }
    }
}

/// Stops every running SQL statement and answers every waiting one when shutdown begins: a
/// long statement must not hold the API's shutdown (and the scheduler's) for its whole limit.
struct SQLInterrupter: Service {
    func run() async throws {
        try? await gracefulShutdown()
        SQLLane.adHoc.interruptAll()
        SQLLane.internalWork.interruptAll()
    }
}

/// Tells the batcher that shutdown has begun, before the receivers wait for their requests.
struct DrainTrigger: Service {
    let batcher: Batcher

    func run() async throws {
        try? await gracefulShutdown()
        batcher.beginDraining()
    }
}

/// Which listeners accept connections yet: the server is ready only once all of them do, so a
/// client (or a test harness) that waits for `/ready` never meets a refused connection.
final class ListenerReadiness: Sendable {
    private let pending: Mutex<Set<String>>

    init(_ names: [String]) {
        pending = Mutex(Set(names))
    }

    func listening(_ name: String) {
        _ = pending.withLock { $0.remove(name) }
    }

    var problems: [String] {
        pending.withLock { $0.sorted().map { "\($0) is not listening yet" } }
    }
}

extension DiskSpaceGuard: IngestAdmission {}
