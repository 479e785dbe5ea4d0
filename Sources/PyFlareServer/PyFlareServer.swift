import Foundation
public import GRDB
public import Logging
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import GRPCNIOTransportHTTP2Posix
import NIOCore
import Prometheus
public import PyFlareAnalytics
import PyFlareAccess
import PyFlareAPI
import PyFlareExport
import PyFlareKafka
import PyFlareGRPC
import PyFlareIngest
import PyFlareModel
import PyFlareWire
public import PyFlareStore
public import PyFlareSQL
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
    /// `serve --insecure`: serve beyond loopback with auth off (something in front checks requests).
    let insecure: Bool

    public init(configuration: PyFlareConfiguration, registry: PrometheusCollectorRegistry, logger: Logger, insecure: Bool = false) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        self.insecure = insecure
    }

    public func run() async throws {
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(key: "data_dir", "cannot create \(configuration.dataDirectory): \(error.localizedDescription)")
        }
        SQLLane.adHoc.limitWaiting(to: configuration.sql.maxQueued)
        let lock: DataDirectoryLock?
        do { lock = try DataDirectoryLock.acquire(dataDirectory: configuration.dataDirectory) } catch {
            throw ConfigError(key: "data_dir", error.message)
        }
        guard let lock else { throw ConfigError(key: "data_dir", "another pyflare server is running on \(configuration.dataDirectory)") }
        defer { withExtendedLifetime(lock) {} }
        let gatekeeper = try openAccess()
        let samplerConfiguration = try configuration.samplerConfiguration()
        let metrics = IngestMetrics(samplerStrategy: samplerConfiguration.name)

        // The disk guard counts what every project's next seals will write; the host exists only
        // after it, so the count goes through this box.
        let projectsBox = Mutex<ProjectHost?>(nil)
        let disk = DiskSpaceGuard(directory: configuration.dataDirectory, floor: configuration.minFreeBytes,
                                  logger: logger.with(label: "pyflare.disk"),
                                  pendingWrites: { Int64(projectsBox.withLock { $0 }?.unsealedBytes ?? 0) })
        disk.check()
        let server = self
        let projects = ProjectHost(gatekeeper: gatekeeper, metrics: metrics, dataDirectory: configuration.dataDirectory,
                                   logger: logger.with(label: "pyflare.projects"),
                                   open: { name in try await ProjectRuntime.open(name, server: server, metrics: metrics, disk: disk) })
        projectsBox.withLock { $0 = projects }
        try await projects.openAll()

        let certificates = configuration.tls.isEnabled ? try TLSCertificates(configuration.tls) : nil
        let listeners = ListenerReadiness(["OTLP/HTTP receiver", "OTLP/gRPC receiver", "REST API"])
        let otlpGRPC = OTLPGRPCReceiver(
            exports: projects, host: configuration.otlpGRPC.host, port: configuration.otlpGRPC.port,
            maxMessageBytes: configuration.otlpGRPCMaxMessageBytes, transportSecurity: try grpcSecurity(certificates),
            logger: logger.with(label: "pyflare.otlp.grpc"),
            onListening: { listeners.listening("OTLP/gRPC receiver") })
        let otlpRouter = Router(context: PyFlareRequestContext.self)
        OTLPHTTPReceiver(exports: projects, maxBodyBytes: configuration.otlpHTTPMaxBodyBytes,
                         logger: logger.with(label: "pyflare.otlp")).addRoutes(to: otlpRouter)
        let otlpHTTP = try application(otlpRouter, listener: configuration.otlpHTTP, name: "OTLP/HTTP receiver", label: "pyflare.otlp.http",
                                       listeners: listeners, certificates: certificates)

        // The server's own routes; every other request goes, once its key is checked, to the
        // router of its project (`AccessMiddleware`).
        let apiRouter = Router(context: PyFlareRequestContext.self)
        // First, so that they guard every route added after them.
        apiRouter.add(middleware: BrowserRequestGuard(extraHosts: configuration.apiAllowedHosts))
        apiRouter.add(middleware: AccessMiddleware(gatekeeper: gatekeeper, projects: { projects.runtime($0)?.responder }))
        let dataDirectory = configuration.dataDirectory
        let serverRoutes = RouteList()
        apiRouter.addRoutes(APIRoutes(registry: registry, readiness: {
            listeners.problems + Self.readinessProblems(dataDirectory: dataDirectory) + [disk.refusal].compactMap { $0 }
        }, listed: { serverRoutes.all + (projects.runtime(AccessCatalog.defaultProject)?.routeList.all ?? []) }).routes(), listedIn: serverRoutes)
        apiRouter.addRoutes(AccessRoutes(projects: projects).routes(), listedIn: serverRoutes)
        // The web UI at `/`, there with or without the store (its views say what the API answers).
        apiRouter.addRoutes(UIRoutes().routes(), listedIn: serverRoutes)
        let api = try application(apiRouter, listener: configuration.api, name: "REST API", label: "pyflare.api", listeners: listeners,
                                  certificates: certificates)

        logger.info("starting", metadata: [
            "data_dir": "\(configuration.dataDirectory)", "sink": "\(configuration.sink.kind.rawValue)",
            "sampler": "\(samplerConfiguration.name)", "projects": "\(projects.book.projects.count)",
            "auth": "\(gatekeeper.enabled ? "on" : "off")", "tls": "\(certificates == nil ? "off" : "on")",
        ])
        // Services stop in reverse order: the drain trigger first (so requests waiting on the
        // batchers' flush interval are answered), then the API and the receivers, then the
        // projects (each stops its telemetry reaper, scheduler and batcher, which closes its store).
        var services: [any Service] = [projects, DiskMonitor(disk: disk), otlpHTTP, otlpGRPC, api,
                                       DrainTrigger(projects: projects), SQLInterrupter()]
        if let certificates { services.append(CertificateReloadOnHangUp(certificates: certificates, logger: logger.with(label: "pyflare.tls"))) }
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
        logger.info("stopped")
    }

    /// The access catalog and the rules of this server: refuses to serve beyond loopback without
    /// keys unless told `--insecure`, and on the first start with keys makes the first admin key.
    func openAccess() throws -> Gatekeeper {
        let book: KeyBook
        do {
            book = try KeyBook(catalog: AccessCatalog(dataDirectory: configuration.dataDirectory))
        } catch {
            throw ConfigError(key: "data_dir", "cannot open the access catalog: \(error.message)")
        }
        let enabled = configuration.authEnabled
        if !enabled, !configuration.listenersOnLoopback, !insecure {
            throw ConfigError(key: "auth.enabled", "a listener binds beyond loopback with auth off, so anyone who can reach it could read and change everything; turn auth on, bind 127.0.0.1, or start with --insecure if something in front of PyFlare checks every request")
        }
        if configuration.alertsSMTPUsername != nil, configuration.alertsSMTPSecurity == .none {
            throw ConfigError(key: "alerts.smtp.username", "would send the password in the clear: set alerts.smtp.security to starttls or tls")
        }
        if enabled, book.isEmpty {
            do {
                let (key, _) = try book.catalog.createKey(scope: .admin, project: nil, name: "first admin key")
                try book.refresh()
                // Standard output, once: never the log, which is kept and shipped.
                FileHandle.standardOutput.write(Data("""
                    PyFlare created its first API key, an admin key of all projects. It is shown only this once:

                        \(key.text)

                    Make keys for services and people with `pyflare keys create --scope ingest|read|admin --project NAME`
                    or POST /api/v1/keys (docs/security.md).

                    """.utf8))
            } catch {
                throw ConfigError(key: "data_dir", "cannot create the first API key: \(error.message)")
            }
        }
        if !enabled, !configuration.listenersOnLoopback {
            logger.warning("auth is off on a listener beyond loopback (--insecure): every request is allowed")
        }
        return Gatekeeper(enabled: enabled, book: book, throttle: FailureThrottle(burst: configuration.authFailureBurst))
    }

    /// An HTTP server for `router` on `listener` that logs where it listens.
    func application<Context: RequestContext>(_ router: Router<Context>, listener: PyFlareConfiguration.Listener, name: String,
                                               label: String, listeners: ListenerReadiness, certificates: TLSCertificates?) throws -> some Service
        where Context.Source == ApplicationRequestContextSource {
        let idle = TimeAmount.nanoseconds(Int64(configuration.httpIdleTimeout.inSeconds * 1e9))
        let body = TimeAmount.nanoseconds(Int64(configuration.httpBodyTimeout.inSeconds * 1e9))
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [HTTPConnectionGuard(idleTimeout: idle, bodyTimeout: body)]))
        let server: HTTPServerBuilder
        if let certificates {
            let tls = try certificates.serverConfiguration()
            do { server = try .tls(http1, tlsConfiguration: tls) } catch { throw ConfigError(key: "tls.cert_file", "cannot set up TLS: \(error)") }
        } else {
            server = http1
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(listener.host, port: listener.port), serverName: "pyflare"),
            onServerRunning: { [logger] channel in
                listeners.listening(name)
                logger.info("\(name) listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger.with(label: label))
    }

    /// The gRPC listener's transport security: TLS with the same reloading certificates as the HTTP listeners.
    func grpcSecurity(_ certificates: TLSCertificates?) throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let certificates else { return .plaintext }
        do {
            if let caFile = configuration.tls.clientCAFile {
                return try .mTLS(certificateReloader: certificates) { tls in
                    tls.trustRoots = .certificates([.file(path: caFile, format: .pem)])
                    tls.clientCertificateVerification = .noHostnameVerification
                }
            }
            return try .tls(certificateReloader: certificates)
        } catch {
            throw ConfigError(key: "tls.cert_file", "cannot set up TLS for gRPC: \(error)")
        }
    }

    /// The scheduler with the built-in jobs, the user's `.sql` files and the budget job.
    func makeScheduler(store: SpanStore, pricing: LivePricing, export: OTLPExport, compactor: SegmentCompactor,
                       parquetExport: ParquetExportJob?, disk: DiskSpaceGuard) async -> Scheduler {
        let offload = store.hasRemoteTier
            ? SegmentOffloadJob(schedule: configuration.remoteSegmentsSchedule, store: store, failpoint: Self.offloadKillSwitch()) : nil
        await configureBudgetWebhookRule(pool: store.indexPool)
        // The judge's own calls go through ingest like any exporter's spans, so they are stored and costed.
        let judgeTracer: @Sendable ([UInt8]) async -> Void = { body in _ = await export.export(.traces, body: body, json: false) }
        let alerts = AlertDispatcher(publicURL: configuration.alertsPublicURL, attempts: configuration.alertsDeliveryAttempts,
                                     firstBackoff: .milliseconds(configuration.alertsFirstRetryMilliseconds),
                                     smtp: configuration.alertsSMTPHost.map {
                                         AlertDispatcher.SMTPSettings(host: $0, port: configuration.alertsSMTPPort, from: configuration.alertsSMTPFrom,
                                                                      security: configuration.alertsSMTPSecurity,
                                                                      username: configuration.alertsSMTPUsername,
                                                                      password: configuration.alertsSMTPPassword, caFile: configuration.alertsSMTPCAFile)
                                     },
                                     logger: logger.with(label: "pyflare.alerts"))
        return await Self.scheduler(configuration: configuration, pool: store.indexPool,
                                    engine: store.sqlEngine(limits: configuration.schedulerSettings.jobLimits, lane: .internalWork),
                                    alerts: alerts, pricing: { pricing.table.price(for: $0) }, judgeTracer: judgeTracer,
                                    compactor: compactor, parquetExport: parquetExport, offload: offload, disk: disk, owner: "server", logger: logger.with(label: "pyflare.scheduler"))
    }

    /// For the crash tests of the object-storage tier only: `PYFLARE_TEST_KILL_AT=offload:<step>`
    /// makes the process kill itself with SIGKILL at that step of a segment's move to the
    /// bucket, as `kill -9` would at that moment.
    static func offloadKillSwitch() -> (@Sendable (OffloadStep) -> Void)? {
        guard let value = ProcessInfo.processInfo.environment["PYFLARE_TEST_KILL_AT"], value.hasPrefix("offload:"),
              let step = OffloadStep(rawValue: String(value.dropFirst("offload:".count))) else { return nil }
        return { reached in if reached == step { kill(getpid(), SIGKILL) } }
    }

    /// `budgets.webhook_url` is a `budget` alert rule of the budgets' own thresholds with that
    /// webhook: kept in line with the option at every start, removed when it is unset.
    func configureBudgetWebhookRule(pool: DatabasePool) async {
        let name = AlertRule.budgetWebhookRuleName
        let now = UnixTime.nowNanoseconds()
        let rule = configuration.budgetWebhookURL.map {
            AlertRule(name: name, kind: .budget, channels: [.init(kind: .webhook, url: $0)], created: now, updated: now)
        }
        do {
            try await AlertBook(pool: pool).configure(rule, named: name)
        } catch {
            logger.error("cannot set up the alert rule of budgets.webhook_url", metadata: ["error": "\(error)"])
        }
    }

    /// The jobs of `configuration` (built-in, its queries directory, budgets) on a data
    /// directory's index and SQL engine: the server's scheduler, and `pyflare jobs`'.
    public static func scheduler(configuration: PyFlareConfiguration, pool: DatabasePool, engine: SQLEngine,
                                 alerts: AlertDispatcher? = nil, pricing: @escaping @Sendable (String) -> ModelPrice?,
                                 judgeTracer: (@Sendable ([UInt8]) async -> Void)?, compactor: SegmentCompactor,
                                 parquetExport: ParquetExportJob? = nil, offload: SegmentOffloadJob? = nil, disk: DiskSpaceGuard?,
                                 owner: String, logger: Logger) async -> Scheduler {
        let settings = configuration.schedulerSettings
        let rca = configuration.rca, quality = configuration.quality
        var swiftJobs: [any AnalyticsJob] = [
            BudgetJob(),
            AlertJob(schedule: configuration.alertsSchedule, dispatcher: alerts),
            FailureClusterJob(schedule: rca.clustersSchedule, similarity: rca.clusterSimilarity),
            SliceAnalysisJob(schedule: rca.slicesSchedule, settings: rca.slices),
            PatternDetectionJob(schedule: rca.patternsSchedule, settings: rca.patterns),
            EvaluationJob(schedule: quality.evaluationsSchedule, rules: quality.verdicts),
            RAGEvaluationJob(schedule: quality.ragSchedule, rules: quality.verdicts),
            DriftJob(schedule: quality.driftSchedule, settings: quality.drift),
        ]
        if let parquetExport { swiftJobs.append(parquetExport) }
        if let offload { swiftJobs.append(offload) }
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
            return try await SpanStore.open(configuration: configuration.storeConfiguration, pricing: pricing, logger: logger.with(label: "pyflare.store"))
        case .counting:
            return CountingSink()
        case .kafka:
            guard !configuration.kafkaExporter.brokers.isEmpty else {
                throw ConfigError(key: "exporters.kafka.brokers", "must be set with sink.kind: kafka")
            }
            do {
                return try KafkaSink(settings: configuration.kafkaExporter, logger: logger.with(label: "pyflare.kafka"))
            } catch {
                throw ConfigError(key: "exporters.kafka.brokers", error.message)
            }
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
        for (key, value) in handler.metadata { logger[metadataKey: key] = value }
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

/// Reads the TLS certificate and key again on each SIGHUP (a renewed certificate needs no
/// restart); a file that cannot be read leaves the certificate in use and says why.
struct CertificateReloadOnHangUp: Service {
    let certificates: TLSCertificates
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    try certificates.reload()
                    logger.info("TLS certificate reloaded")
                } catch {
                    logger.error("TLS certificate not reloaded; the previous one stays in use", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Tells the batchers that shutdown has begun, before the receivers wait for their requests.
struct DrainTrigger: Service {
    let projects: ProjectHost

    func run() async throws {
        try? await gracefulShutdown()
        projects.beginDraining()
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
