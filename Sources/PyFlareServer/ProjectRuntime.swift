import Foundation
import Hummingbird
import Logging
import PyFlareAccess
import PyFlareAnalytics
import PyFlareAPI
import PyFlareExport
import PyFlareKafka
import PyFlareIngest
import PyFlareModel
import PyFlareStore
import PyFlareWire
import PyFlareSQL
import ServiceLifecycle
import Synchronization

/// One project: its store (own WAL, segments and `index.db`), ingest path, scheduler and
/// routes. Nothing in it knows another project exists, so no request routed here can read or
/// change another project's data: isolation by construction, not by a filter in each handler.
final class ProjectRuntime: Sendable {
    let name: String
    let store: SpanStore?
    let export: OTLPExport
    let batcher: Batcher
    /// The project's routes; the access check hands it the requests granted for this project.
    let responder: RouterResponder<PyFlareRequestContext>
    /// The project's routes, as `/api/v1/routes` lists them.
    let routeList: RouteList
    /// Batcher, scheduler and telemetry reaper: stopped together, in reverse order.
    let services: ServiceGroup
    let logger: Logger
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// The data directory of `project` under the server's: the root for `default` (where a
    /// server without projects always kept it), `projects/<name>/` for the others.
    static func directory(of project: String, under root: String) -> String {
        project == AccessCatalog.defaultProject ? root : root + "/projects/" + project
    }

    private init(name: String, store: SpanStore?, export: OTLPExport, batcher: Batcher,
                 router: Router<PyFlareRequestContext>, routeList: RouteList, services: ServiceGroup, logger: Logger) {
        self.name = name
        self.logger = logger
        self.store = store
        self.export = export
        self.batcher = batcher
        self.routeList = routeList
        responder = router.buildResponder()
        self.services = services
    }

    /// Runs the project's services until they stop (shutdown, or ``stop()``).
    func run() async {
        do { try await services.run() } catch { logger.error("project services failed", metadata: ["error": "\(error)"]) }
        let waiters = finished.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops the project's work (the batcher drains into the store and closes it) and waits for it.
    func stop() async {
        batcher.beginDraining()
        await services.triggerGracefulShutdown()
        await withCheckedContinuation { continuation in
            let done = finished.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    /// Opens the project's store (recovering its WAL) and builds its pipeline, jobs and routes.
    ///
    /// - Parameter server: the server, whose configuration is used with the project's directory.
    static func open(_ name: String, server: PyFlareServer, metrics: IngestMetrics, disk: DiskSpaceGuard) async throws -> ProjectRuntime {
        var configuration = server.configuration
        configuration.dataDirectory = directory(of: name, under: server.configuration.dataDirectory)
        if let exports = configuration.parquetExportDirectory, exports.hasPrefix("/") {
            configuration.parquetExportDirectory = directory(of: name, under: exports)
        }
        if name != AccessCatalog.defaultProject {
            configuration.placeBuckets(underProject: name)
            // The Kafka tier is the default project's: its topics carry no project.
            configuration.kafkaExporter.brokers = ""
        }
        if name != AccessCatalog.defaultProject, configuration.sink.kind != .store {
            throw ConfigError(key: "sink.kind", "projects other than default need sink.kind: store")
        }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        var logger = server.logger
        logger[metadataKey: "project"] = "\(name)"
        let project = PyFlareServer(configuration: configuration, registry: server.registry, logger: logger)

        // Prices set through the API live in the index, so only a project with the store has
        // them; they are read before the store opens, so that WAL recovery re-prices the
        // requests it replays as they were priced when received.
        var apiPrices = configuration.sink.kind == .store
            ? PricingOverrides.load(indexPath: configuration.dataDirectory + "/index.db") : []
        let pricing = LivePricing(config: configuration.pricingOverrides, api: apiPrices).table
        let sink = try await project.makeSink(pricing: pricing)
        let store = sink as? SpanStore
        if let store { apiPrices = try await PricingOverrides(pool: store.indexPool).load() }
        let livePricing = LivePricing(config: configuration.pricingOverrides, api: apiPrices)
        let batcher = Batcher(configuration: configuration.batcher, sink: sink, metrics: metrics,
                              logger: logger.with(label: "pyflare.batcher"))
        let pipeline = IngestPipeline(normalizer: SpanNormalizer(pricing: livePricing),
                                      sampler: Sampler(try configuration.samplerConfiguration()), batcher: batcher, metrics: metrics)
        let export = OTLPExport(pipeline: pipeline, records: sink, admission: disk)

        let router = Router(context: PyFlareRequestContext.self)
        let routeList = RouteList()
        func add(_ routes: APIRouteCollection<PyFlareRequestContext>) { router.addRoutes(routes, listedIn: routeList) }
        if configuration.sink.kind != .store {
            router.add(middleware: StoreRequiredMiddleware(reason: "this API needs sink.kind: store (it is \(configuration.sink.kind.rawValue))"))
        }
        var services: [any Service] = [batcher]
        // A storage node's receiver of the Kafka tier: the default project's pipeline, as if over OTLP.
        if name == AccessCatalog.defaultProject, !configuration.kafkaReceiver.brokers.isEmpty {
            var storedOffsets: (@Sendable () async throws -> [SourceOffset])?
            if let store { storedOffsets = { try await store.sourceOffsets() } }
            do throws(KafkaError) {
                services.append(try KafkaReceiver(settings: configuration.kafkaReceiver, export: export, storedOffsets: storedOffsets,
                                                  logger: logger.with(label: "pyflare.kafka")))
            } catch {
                throw ConfigError(key: "receivers.kafka.brokers", error.message)
            }
        }
        if let store, configuration.forwardsToKafka {
            do throws(KafkaError) {
                let sink = try KafkaSink(settings: configuration.kafkaExporter, logger: logger.with(label: "pyflare.kafka"))
                services.append(KafkaForwarder(store: store, sink: sink, logger: logger.with(label: "pyflare.kafka")))
            } catch {
                throw ConfigError(key: "exporters.kafka.brokers", error.message)
            }
        }
        if let store {
            // A compaction first lets the Parquet export catch up, so no segment it merges or deletes goes unexported.
            let parquet = configuration.parquetExportJob(pool: store.indexPool, readers: store.readers)
            let compactor = store.compactor(beforeChanges: parquet?.beforeCompaction)
            let scheduler = await project.makeScheduler(store: store, pricing: livePricing, export: export, compactor: compactor,
                                                        parquetExport: parquet, disk: disk)
            services.append(scheduler)
            add(JobRoutes(scheduler: scheduler).routes())
            if case .swift(let job as RetentionJob) = scheduler.catalog[RetentionJob.jobName]?.work {
                add(RetentionRoutes(job: job, policies: job.policies, settings: configuration.retention, compactor: compactor,
                                    scheduler: scheduler, disk: disk).routes())
            }
            add(CostRoutes(costs: CostReadModel(pool: store.indexPool), pricingVersion: { livePricing.version }).routes())
            add(AlertRoutes(alerts: AlertBook(pool: store.indexPool)).routes())
            // The analysis routes' own statements answer within a user's time limit, on the
            // server's lane and never cut by the row limit meant for ad-hoc SQL.
            let analysisLimits = SQLLimits(timeout: configuration.sql.timeout, maxRows: configuration.schedulerSettings.jobLimits.maxRows)
            let analysisEngine = store.sqlEngine(limits: analysisLimits, lane: .internalWork)
            add(RCARoutes(rca: RCAReadModel(pool: store.indexPool, engine: analysisEngine,
                                            sliceSettings: configuration.rca.slices)).routes())
            add(OverviewRoutes(overview: OverviewReadModel(pool: store.indexPool, engine: analysisEngine)).routes())
            add(OperationsRoutes(activity: pipeline.activity, batcher: batcher, store: store, disk: disk).routes())
            add(PricingRoutes(pricing: livePricing, overrides: PricingOverrides(pool: store.indexPool)).routes())
            add(EvaluationRoutes(evaluations: EvaluationReadModel(pool: store.indexPool), rules: configuration.quality.verdicts).routes())
            let drift = configuration.quality.drift
            add(DriftRoutes(drift: DriftReadModel(pool: store.indexPool, settings: drift),
                            computation: DriftComputation(settings: drift, engine: analysisEngine, limits: analysisLimits, pool: store.indexPool),
                            settings: drift).routes())
            add(TraceRoutes(store: store, pricing: pricing).routes())
            add(SessionRoutes(sessions: SessionReadModel(pool: store.indexPool), store: store).routes())
            add(LogRoutes(store: store).routes())
            add(MetricRoutes(store: store).routes())
            add(SQLRoutes(engine: store.sqlEngine(limits: configuration.sql)).routes())
            let spans = TelemetrySpans(configuration: configuration.telemetry)
            let writer = TelemetryWriter(export: export, serviceName: configuration.telemetry.serviceName)
            add(TelemetryRoutes(spans: spans, writer: writer, store: store).routes())
            // Last, so it stops first: it writes the open telemetry spans while the batcher still takes them.
            services.append(TelemetrySpanReaper(spans: spans, writer: writer, logger: logger.with(label: "pyflare.telemetry")))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger.with(label: "pyflare.project"))
        return ProjectRuntime(name: name, store: store, export: export, batcher: batcher, router: router, routeList: routeList, services: group, logger: logger)
    }
}
