import Foundation
public import Logging
public import PyFlareAnalytics
public import PyFlareAPI
public import PyFlareExport
public import PyFlareObjectStorage
public import PyFlareKafka
public import GRDB
public import PyFlareIngest
public import PyFlareModel
public import PyFlareStore
public import PyFlareSQL

/// Everything `pyflare serve` can be configured with, with every default set here.
///
/// Sources are layered: defaults, then the YAML file, then `PYFLARE_…` environment
/// variables, then command-line flags. ``ConfigOption/all`` lists every key.
public struct PyFlareConfiguration: Sendable, Equatable {
    /// Root of everything PyFlare stores. Default `./data`.
    public var dataDirectory = "./data"
    public var logLevel: Logger.Level = .info
    /// Loopback, like every listener: beyond this machine nothing is readable or writable
    /// without a key, so binding elsewhere turns auth on (``authEnabled``).
    public var otlpHTTP = Listener(host: "127.0.0.1", port: 4318)
    /// Largest OTLP/HTTP body, after decompression. Default 16 MiB.
    public var otlpHTTPMaxBodyBytes = 16 << 20
    public var otlpGRPC = Listener(host: "127.0.0.1", port: 4317)
    public var otlpGRPCMaxMessageBytes = 16 << 20
    /// The REST API serves everything stored, so it listens on loopback unless told otherwise.
    public var api = Listener(host: "127.0.0.1", port: 8080)
    /// Host names the API answers for besides localhost and this machine's addresses.
    public var apiAllowedHosts: [String] = []
    /// How long an HTTP connection (OTLP/HTTP or API) may wait for a whole request head:
    /// idle keep-alive connections and slow senders are closed after it. Default 60 s.
    public var httpIdleTimeout: Duration = .seconds(60)
    /// How long a request's body may take to arrive after its head. Default 60 s.
    public var httpBodyTimeout: Duration = .seconds(60)
    /// The JSON telemetry API on the REST port: span timeout, limits, default service name.
    public var telemetry = TelemetryConfiguration.defaults
    /// Limits of ad-hoc SQL (`POST /api/v1/sql`, `pyflare sql`).
    public var sql = SQLLimits()
    public var batcher = BatcherConfiguration.defaults
    public var sink = SinkConfiguration()
    /// The durable store's WAL and segment settings (its data directory is ``dataDirectory``).
    public var store = SpanStoreConfiguration(dataDirectory: "./data")
    public var sampler = SamplerSettings()
    /// Prices that replace or extend the built-in table.
    public var pricingOverrides: [ModelPrice] = []
    /// Scheduled jobs: on or off, the user's queries directory, lateness, limits.
    public var scheduler = SchedulerSettings()
    /// Where budget alerts are posted; nil posts nowhere.
    public var budgetWebhookURL: String?
    /// Alert rules: when they are evaluated, where their links point, how deliveries are retried.
    public var alertsSchedule = JobSchedule.every(seconds: 60)
    public var alertsPublicURL = "http://127.0.0.1:8080"
    public var alertsDeliveryAttempts = 6
    public var alertsFirstRetryMilliseconds = 5000
    /// Email channels' relay: none while the host is nil.
    public var alertsSMTPHost: String?
    public var alertsSMTPPort = 25
    public var alertsSMTPFrom = "pyflare@localhost"
    public var alertsSMTPSecurity = SMTPSecurity.none
    public var kafkaExporter = KafkaExporterSettings()
    public var kafkaReceiver = KafkaReceiverSettings()
    public var parquetExportDirectory: String?
    public var parquetExportSchedule = JobSchedule.every(seconds: 300)
    /// `export.parquet.s3.*`: the bucket the export's files are uploaded to; nil without an endpoint.
    public var parquetExportBucket = S3Settings()
    /// The object-storage tier of old segments (`storage.remote`); in effect with an endpoint and a non-zero age.
    public var remoteSegments = RemoteSegmentSettings(bucket: S3Settings(), after: .seconds(7 * 86_400))
    public var remoteSegmentsSchedule = JobSchedule.every(seconds: 600)
    public var alertsSMTPCAFile: String?
    public var alertsSMTPUsername: String?
    public var alertsSMTPPassword: String?
    /// Root-cause analysis: failure clusters, slices, patterns.
    public var rca = RCASettings()
    /// Evaluations and drift (docs/quality.md).
    public var quality = QualitySettings()
    /// Retention policy and compaction (docs/retention.md).
    public var retention = RetentionSettings()
    /// Ingest pauses (503) while less than this is free under the data directory; 0 never.
    public var minFreeBytes: Int64 = 256 << 20
    /// API keys: on, off, or (nil) on exactly when a listener binds beyond loopback.
    public var auth: Bool?
    /// Wrong keys one client address may send at once before it is slowed to one per second.
    public var authFailureBurst = 10
    /// TLS on every listener when a certificate is set (docs/security.md).
    public var tls = TLSSettings()

    public struct TLSSettings: Sendable, Equatable {
        public var certificateFile: String?
        public var keyFile: String?
        /// Clients must present a certificate signed by one of these (mutual TLS).
        public var clientCAFile: String?

        public var isEnabled: Bool { certificateFile != nil }
    }

    /// Whether requests need keys: as configured, else whenever a listener is reachable from
    /// another machine.
    public var authEnabled: Bool {
        auth ?? !listenersOnLoopback
    }

    /// Every listener binds a loopback address.
    public var listenersOnLoopback: Bool {
        [otlpHTTP.host, otlpGRPC.host, api.host].allSatisfy(Self.isLoopback)
    }

    /// `localhost`, 127.0.0.0/8 and ::1.
    static func isLoopback(_ host: String) -> Bool {
        let text = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return text == "localhost" || text == "::1" || text.hasPrefix("127.")
    }

    public struct QualitySettings: Sendable, Equatable {
        public var evaluationsSchedule = JobSchedule.every(seconds: 60)
        public var verdicts = EvaluationVerdictRules()
        public var ragSchedule = JobSchedule.every(seconds: 300)
        public var judgeSchedule = JobSchedule.every(seconds: 300)
        public var judge = JudgeSettings()
        public var driftSchedule = JobSchedule.every(seconds: 900)
        public var drift = DriftSettings()
    }

    public struct RCASettings: Sendable, Equatable {
        public var clustersSchedule = JobSchedule.every(seconds: 60)
        public var clusterSimilarity = 0.6
        public var slicesSchedule = JobSchedule.every(seconds: 900)
        public var slices = SliceSettings()
        public var patternsSchedule = JobSchedule.every(seconds: 300)
        public var patterns = PatternSettings()
    }

    public init() {}

    /// ``scheduler`` with a relative `queries_dir` taken under the data directory.
    public var schedulerSettings: SchedulerSettings {
        var settings = scheduler
        if let directory = settings.queriesDirectory, !directory.hasPrefix("/") {
            settings.queriesDirectory = dataDirectory + "/" + directory
        }
        return settings
    }

    public struct Listener: Sendable, Equatable {
        public var host: String
        public var port: Int
    }

    public struct SinkConfiguration: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case store, file, counting, kafka }
        public var kind = Kind.store
        /// Relative paths are under the data directory.
        public var fileDirectory = "exports"
        public var fileMaxBytes = 64 << 20
        public var fileMaxFiles = 10
    }

    /// The sampler's options as written; ``PyFlareConfiguration/samplerConfiguration()`` checks and assembles them.
    public struct SamplerSettings: Sendable, Equatable {
        public var strategy = "always_on"
        public var rate: Double?
        public var tracesPerSecond: Double?
        public var defaultRate: Double?
        public var services: [String: Double] = [:]
        public var rules: [SamplerConfiguration.AttributeRule] = []
        /// For `parent_based`: the strategy that decides root spans.
        public var root: Box?

        public init() {}

        /// Indirection for the recursive `root`.
        public final class Box: Sendable, Equatable {
            public let settings: SamplerSettings
            init(_ settings: SamplerSettings) { self.settings = settings }
            public static func == (lhs: Box, rhs: Box) -> Bool { lhs.settings == rhs.settings }
        }
    }
}

extension PyFlareConfiguration {
    /// Where the Parquet export of this data directory goes (a relative `export.parquet.dir`
    /// is under it); nil when there is none.
    public var parquetExportPath: String? {
        guard let directory = parquetExportDirectory else { return nil }
        return directory.hasPrefix("/") ? directory : dataDirectory + "/" + directory
    }

    /// The `parquet_export` job of this data directory, when `export.parquet.dir` is set;
    /// it opens segments through `readers` (the store's, which reads remote ones too).
    package func parquetExportJob(pool: DatabasePool, readers: SegmentReaderCache) -> ParquetExportJob? {
        parquetExportPath.map {
            ParquetExportJob(schedule: parquetExportSchedule, directory: $0, dataDirectory: dataDirectory, pool: pool,
                             pricing: PricingTable.builtIn(overrides: pricingOverrides), readers: readers,
                             bucket: parquetExportBucket.isConfigured ? S3Client(settings: parquetExportBucket) : nil)
        }
    }

    /// `storage.remote` when it is in effect: an endpoint and an age.
    public var remoteSegmentsInEffect: RemoteSegmentSettings? {
        remoteSegments.bucket.isConfigured && remoteSegments.after > .zero ? remoteSegments : nil
    }

    /// The Kafka exporter next to the store: the store acknowledges, its WAL is forwarded.
    public var forwardsToKafka: Bool { sink.kind == .store && !kafkaExporter.brokers.isEmpty }

    /// The store's configuration for this data directory, with its bucket.
    public var storeConfiguration: SpanStoreConfiguration {
        var store = store
        store.dataDirectory = dataDirectory
        store.remote = remoteSegmentsInEffect
        store.forwardsRecords = forwardsToKafka
        return store
    }

    /// A project's buckets hold its objects under `projects/<name>/` of the configured prefix,
    /// as its data directory is under the server's.
    mutating func placeBuckets(underProject name: String) {
        for settings in [\PyFlareConfiguration.parquetExportBucket, \.remoteSegments.bucket] {
            let prefix = self[keyPath: settings].prefix
            self[keyPath: settings].prefix = (prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/") + "projects/" + name + "/"
        }
    }
}
