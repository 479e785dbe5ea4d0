import Foundation
import Logging
import PyFlareAnalytics
import PyFlareKafka
import PyFlareAPI
import PyFlareIngest
import PyFlareModel
import PyFlareStore
import PyFlareObjectStorage
import PyFlareSQL
internal import Yams

/// One configuration key: its documentation, its default as YAML, and how to apply a value.
///
/// The same list drives the YAML file, the `PYFLARE_…` environment variables, the
/// command-line flags, validation messages and `pyflare config init`.
struct ConfigOption: Sendable {
    let key: String
    let help: String
    /// The default, as YAML text (for `config init`).
    let defaultYAML: String
    let apply: @Sendable (inout PyFlareConfiguration, Node, String) throws(ConfigError) -> Void

    var environmentName: String { Self.environmentName(for: key) }

    /// `otlp.http.port` → `PYFLARE_OTLP_HTTP_PORT`.
    static func environmentName(for key: String) -> String {
        "PYFLARE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// Every option, in the order `config init` writes them: the buckets' options follow
    /// what they belong to.
    static let all: [ConfigOption] = listed.flatMap { option -> [ConfigOption] in
        switch option.key {
        case "export.parquet.schedule": [option] + parquetBucket
        case "storage.min_free_bytes": [option] + remoteStorage
        default: [option]
        }
    }

    private static let parquetBucket = bucketOptions(
        "export.parquet.s3", \.parquetExportBucket,
        endpoint: "An S3-compatible endpoint (https://s3.eu-west-1.amazonaws.com, http://127.0.0.1:8333) the export's files are uploaded to, verified, then removed from export.parquet.dir; empty to keep them there.",
        prefix: "Prepended to every key (the key is the file's path under kind=…/date=…).")

    private static let remoteStorage: [ConfigOption] = [
        option("storage.remote.after", "Segments whose newest record is older than this (e.g. 7d) move to the bucket of storage.remote.s3: uploaded, verified, recorded in the index, then removed locally; queries read them through the local cache. 0 keeps every segment local.", "7d") { config, node, key throws(ConfigError) in
            config.remoteSegments.after = .nanoseconds(try node.retentionAge(key))
        },
        option("storage.remote.schedule", "When the segment_offload job moves the segments due to the bucket.", "every 10m") { config, node, key throws(ConfigError) in
            config.remoteSegmentsSchedule = try node.schedule(key)
        },
        option("storage.remote.cache_bytes", "Local disk kept for byte ranges read from remote segments (under data_dir/remote-cache), the least recently used given up first.", "536870912") { config, node, key throws(ConfigError) in
            config.remoteSegments.cacheBytes = try node.integer(key, in: (1 << 20)...(1 << 50))
        },
    ] + bucketOptions("storage.remote.s3", \.remoteSegments.bucket,
                                      endpoint: "An S3-compatible endpoint old segments move to (docs/scale-out.md); empty keeps every segment local.",
                                      prefix: "Prepended to every key (a segment's key is its path in its project's data directory, segments/…; other projects' under projects/NAME/). Do not change it while segments are remote.")

    /// The six options of a bucket: endpoint, region, bucket, prefix and credentials.
    private static func bucketOptions(_ key: String, _ settings: any WritableKeyPath<PyFlareConfiguration, S3Settings> & Sendable,
                                      endpoint: String, prefix: String) -> [ConfigOption] {
        [
            option(key + ".endpoint", endpoint, "\"\"") { config, node, key throws(ConfigError) in
                config[keyPath: settings].endpoint = try node.optionalHTTPURL(key) ?? ""
            },
            option(key + ".region", "The bucket's region (Signature V4 signs it).", "us-east-1") { config, node, key throws(ConfigError) in
                config[keyPath: settings].region = try node.nonEmptyString(key)
            },
            option(key + ".bucket", "The bucket (addressed path-style: endpoint/bucket/key).", "\"\"") { config, node, key throws(ConfigError) in
                config[keyPath: settings].bucket = try node.optionalString(key) ?? ""
            },
            option(key + ".prefix", prefix, "\"\"") { config, node, key throws(ConfigError) in
                config[keyPath: settings].prefix = try node.optionalString(key) ?? ""
            },
            option(key + ".access_key_id", "The access key; else AWS_ACCESS_KEY_ID.", "\"\"") { config, node, key throws(ConfigError) in
                config[keyPath: settings].accessKeyID = try node.optionalString(key) ?? ""
            },
            option(key + ".secret_access_key", "The secret key; best given as \(environmentName(for: key + ".secret_access_key")) (or AWS_SECRET_ACCESS_KEY) rather than in this file.", "\"\"") { config, node, key throws(ConfigError) in
                config[keyPath: settings].secretAccessKey = try node.optionalString(key) ?? ""
            },
        ]
    }

    private static let listed: [ConfigOption] = [
        option("data_dir", "Root of everything PyFlare stores: access.db (projects and key hashes), the default project's wal/, segments/, index.db, quarantine/ (and exports/ for the file sink), and projects/NAME/ for the others.", "./data") { config, node, key throws(ConfigError) in
            config.dataDirectory = try node.nonEmptyString(key)
        },
        option("log_level", "trace, debug, info, notice, warning, error or critical.", "info") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ConfigError(key: key, "expected one of trace, debug, info, notice, warning, error, critical; got \"\(text)\"")
            }
            config.logLevel = level
        },
        option("otlp.http.host", "Address the OTLP/HTTP receiver binds; loopback by default. Any other address turns auth on (auth.enabled).", "127.0.0.1") { config, node, key throws(ConfigError) in
            config.otlpHTTP.host = try node.nonEmptyString(key)
        },
        option("otlp.http.port", "Port of the OTLP/HTTP receiver (POST /v1/traces).", "4318") { config, node, key throws(ConfigError) in
            config.otlpHTTP.port = try node.integer(key, in: 0...65535)
        },
        option("otlp.http.max_body_bytes", "Largest request body, after decompression; larger bodies get 413.", "16777216") { config, node, key throws(ConfigError) in
            config.otlpHTTPMaxBodyBytes = try node.integer(key, in: 1024...(1 << 30))
        },
        option("otlp.grpc.host", "IP address the OTLP/gRPC receiver binds; loopback by default. Any other address turns auth on (auth.enabled).", "127.0.0.1") { config, node, key throws(ConfigError) in
            config.otlpGRPC.host = try node.nonEmptyString(key)
        },
        option("otlp.grpc.port", "Port of the OTLP/gRPC receiver (TraceService, LogsService, MetricsService).", "4317") { config, node, key throws(ConfigError) in
            config.otlpGRPC.port = try node.integer(key, in: 0...65535)
        },
        option("otlp.grpc.max_message_bytes", "Largest request message, after decompression; larger ones get RESOURCE_EXHAUSTED.", "16777216") { config, node, key throws(ConfigError) in
            config.otlpGRPCMaxMessageBytes = try node.integer(key, in: 1024...(1 << 30))
        },
        option("api.host", "Address the REST API binds; loopback by default since it serves everything stored.", "127.0.0.1") { config, node, key throws(ConfigError) in
            config.api.host = try node.nonEmptyString(key)
        },
        option("api.port", "Port of the REST API, /health and /metrics.", "8080") { config, node, key throws(ConfigError) in
            config.api.port = try node.integer(key, in: 0...65535)
        },
        option("api.allowed_hosts", "Host names the REST API answers for besides localhost and this machine's own addresses (e.g. the name a load balancer forwards); any other Host header gets 421, which closes DNS rebinding.", "[]") { config, node, key throws(ConfigError) in
            config.apiAllowedHosts = try node.strings(key)
        },
        option("auth.enabled", "API keys on every listener: auto (on when any listener binds beyond loopback), true or false. False beyond loopback needs `serve --insecure` (docs/security.md).", "auto") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key).lowercased()
            switch text {
            case "auto": config.auth = nil
            case "true", "yes", "on": config.auth = true
            case "false", "no", "off": config.auth = false
            default: throw ConfigError(key: key, "expected auto, true or false; got \"\(text)\"")
            }
        },
        option("auth.failure_burst", "Wrong API keys one client address may send at once; after that it may try once a second, and its requests get 429 meanwhile.", "10") { config, node, key throws(ConfigError) in
            config.authFailureBurst = try node.integer(key, in: 1...1_000_000)
        },
        option("tls.cert_file", "PEM certificate chain: when set, every listener (OTLP/HTTP, OTLP/gRPC, API) speaks TLS only. Reloaded on SIGHUP.", "null") { config, node, key throws(ConfigError) in
            config.tls.certificateFile = try node.optionalString(key)
        },
        option("tls.key_file", "PEM private key of tls.cert_file.", "null") { config, node, key throws(ConfigError) in
            config.tls.keyFile = try node.optionalString(key)
        },
        option("tls.client_ca_file", "PEM certificates of the CAs whose client certificates are accepted: set, every client must present one (mutual TLS).", "null") { config, node, key throws(ConfigError) in
            config.tls.clientCAFile = try node.optionalString(key)
        },
        option("http.idle_timeout_ms", "An HTTP connection (OTLP/HTTP or API) that sends no whole request head for this long is closed: idle keep-alive connections and slow senders alike.", "60000") { config, node, key throws(ConfigError) in
            config.httpIdleTimeout = .milliseconds(try node.integer(key, in: 100...86_400_000))
        },
        option("http.body_timeout_ms", "An HTTP request whose body has not all arrived this long after its head is closed.", "60000") { config, node, key throws(ConfigError) in
            config.httpBodyTimeout = .milliseconds(try node.integer(key, in: 100...86_400_000))
        },
        option("sql.max_queued", "Ad-hoc SQL statements that may wait for one of the two SQL threads; more get 429 with Retry-After.", "16") { config, node, key throws(ConfigError) in
            config.sql.maxQueued = try node.integer(key, in: 0...10_000)
        },
        option("sql.timeout_ms", "A SQL statement still running after this long is stopped with an error.", "30000") { config, node, key throws(ConfigError) in
            config.sql.timeout = .milliseconds(try node.integer(key, in: 1...86_400_000))
        },
        option("sql.max_rows", "A SQL statement returning more rows fails (a request's limit truncates instead).", "100000") { config, node, key throws(ConfigError) in
            config.sql.maxRows = try node.integer(key, in: 1...100_000_000)
        },
        option("scheduler.enabled", "Run the scheduled jobs (rollups, cost attribution, budgets, queries_dir) on their schedules; false runs them only when asked (POST /api/v1/jobs/{name}/run, pyflare jobs run).", "true") { config, node, key throws(ConfigError) in
            config.scheduler.enabled = try node.boolean(key)
        },
        option("scheduler.queries_dir", "A directory of your own .sql jobs, loaded next to the built-in ones (docs/jobs.md); empty for none. Relative paths are under the data directory.", "\"\"") { config, node, key throws(ConfigError) in
            config.scheduler.queriesDirectory = try node.optionalString(key)
        },
        option("scheduler.max_backfill_days", "Jobs recompute windows at most this many days back from now; records stamped earlier are stored and answered by SQL but left out of rollups, costs and analyses (a client's span of 1970 cannot make every run walk decades).", "3650") { config, node, key throws(ConfigError) in
            config.scheduler.maxBackfill = Int64(try node.integer(key, in: 1...36_500)) * 86_400_000_000_000
        },
        option("scheduler.lateness_seconds", "Every job run recomputes at least this far back from its last run, so that spans arriving this late still count in their minute (older late data is found through the segment catalog too).", "300") { config, node, key throws(ConfigError) in
            config.scheduler.lateness = Int64(try node.integer(key, in: 0...30 * 86_400)) * 1_000_000_000
        },
        option("scheduler.job_timeout_seconds", "A job statement still running after this long is stopped and the run fails.", "600") { config, node, key throws(ConfigError) in
            config.scheduler.jobLimits.timeout = .seconds(try node.integer(key, in: 1...86_400))
        },
        option("budgets.webhook_url", "Each budget threshold reached is announced to this webhook: the server keeps a `budget` alert rule named \"budgets.webhook_url\" in line with it (docs/alerts.md); empty for none.", "\"\"") { config, node, key throws(ConfigError) in
            config.budgetWebhookURL = try node.optionalHTTPURL(key)
        },
        option("exporters.kafka.brokers", "The Kafka bootstrap servers (host:port,…) to produce every accepted request to (docs/scale-out.md): with sink.kind: kafka, acknowledged once the broker has it; with sink.kind: store, acknowledged once in the WAL and forwarded from there (WAL files are kept until forwarded). Requests must then be protobuf.", "\"\"") { config, node, key throws(ConfigError) in
            config.kafkaExporter.brokers = try node.optionalString(key) ?? ""
        },
        option("exporters.kafka.topics.spans", "The topic of span requests, one message per trace keyed by trace id.", "pyflare-spans") { config, node, key throws(ConfigError) in
            config.kafkaExporter.spansTopic = try node.nonEmptyString(key)
        },
        option("exporters.kafka.topics.logs", "The topic of log requests.", "pyflare-logs") { config, node, key throws(ConfigError) in
            config.kafkaExporter.logsTopic = try node.nonEmptyString(key)
        },
        option("exporters.kafka.topics.metrics", "The topic of metric requests.", "pyflare-metrics") { config, node, key throws(ConfigError) in
            config.kafkaExporter.metricsTopic = try node.nonEmptyString(key)
        },
        option("exporters.kafka.compression", "none, gzip, snappy, lz4 or zstd.", "zstd") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard KafkaExporterSettings.compressions.contains(text) else {
                throw ConfigError(key: key, "expected \(KafkaExporterSettings.compressions.joined(separator: ", ")); got \"\(text)\"")
            }
            config.kafkaExporter.compression = text
        },
        option("exporters.kafka.linger_ms", "How long the producer waits to fill a batch (librdkafka linger.ms).", "5") { config, node, key throws(ConfigError) in
            config.kafkaExporter.lingerMilliseconds = try node.integer(key, in: 0...60_000)
        },
        option("exporters.kafka.batch_bytes", "The most bytes of one producer batch per partition (librdkafka batch.size).", "1000000") { config, node, key throws(ConfigError) in
            config.kafkaExporter.batchBytes = try node.integer(key, in: 1...100_000_000)
        },
        option("exporters.kafka.delivery_timeout_ms", "A request whose messages the broker has not acknowledged within this fails with 503 (the client retries).", "30000") { config, node, key throws(ConfigError) in
            config.kafkaExporter.deliveryTimeoutMilliseconds = try node.integer(key, in: 1000...3_600_000)
        },
        option("exporters.kafka.queue_messages", "Messages the producer holds for the broker at most; past it (or queue_bytes), requests get 429.", "100000") { config, node, key throws(ConfigError) in
            config.kafkaExporter.queueMessages = try node.integer(key, in: 1...10_000_000)
        },
        option("exporters.kafka.queue_bytes", "Bytes the producer holds for the broker at most.", "67108864") { config, node, key throws(ConfigError) in
            config.kafkaExporter.queueBytes = try node.integer(key, in: 1024...(16 << 30))
        },
        option("exporters.kafka.librdkafka", "More librdkafka producer properties, e.g. {security.protocol: SASL_SSL, sasl.mechanisms: PLAIN}; set after PyFlare's own.", "{}") { config, node, key throws(ConfigError) in
            config.kafkaExporter.extraProperties = try node.stringMapping(key)
        },
        option("receivers.kafka.brokers", "Kafka bootstrap servers to consume the exporter's topics from into this node's pipeline (the default project); empty for none.", "\"\"") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.brokers = try node.optionalString(key) ?? ""
        },
        option("receivers.kafka.group_id", "The consumer group: nodes of one group split the partitions.", "pyflare-storage") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.groupID = try node.nonEmptyString(key)
        },
        option("receivers.kafka.topics.spans", "The topic span requests are read from.", "pyflare-spans") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.spansTopic = try node.nonEmptyString(key)
        },
        option("receivers.kafka.topics.logs", "The topic log requests are read from.", "pyflare-logs") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.logsTopic = try node.nonEmptyString(key)
        },
        option("receivers.kafka.topics.metrics", "The topic metric requests are read from.", "pyflare-metrics") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.metricsTopic = try node.nonEmptyString(key)
        },
        option("receivers.kafka.max_poll_bytes", "Bytes of messages read at once and stored as one request per topic (with their offsets, in one WAL record), at most.", "4194304") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.maxPollBytes = try node.integer(key, in: 1024...(256 << 20))
        },
        option("receivers.kafka.commit_interval_ms", "How often the group's offsets are committed. This node's own position is in its WAL with each poll, so its crash stores nothing twice; a node taking over a crashed node's partitions re-reads up to this much.", "1000") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.commitIntervalMilliseconds = try node.integer(key, in: 10...600_000)
        },
        option("receivers.kafka.librdkafka", "More librdkafka consumer properties; set after PyFlare's own.", "{}") { config, node, key throws(ConfigError) in
            config.kafkaReceiver.extraProperties = try node.stringMapping(key)
        },
        option("export.parquet.dir", "Where the parquet_export job writes every sealed segment as Parquet (kind=…/date=…/…parquet, docs/parquet.md); relative to data_dir; empty for no export.", "\"\"") { config, node, key throws(ConfigError) in
            config.parquetExportDirectory = try node.optionalString(key)
        },
        option("export.parquet.schedule", "When the parquet_export job exports the segments sealed since its last run (a compaction also lets it catch up first).", "every 5m") { config, node, key throws(ConfigError) in
            config.parquetExportSchedule = try node.schedule(key)
        },
        option("alerts.schedule", "When the alert rules are evaluated on the materialized tables (docs/alerts.md).", "every 1m") { config, node, key throws(ConfigError) in
            config.alertsSchedule = try node.schedule(key)
        },
        option("alerts.public_url", "The UI's address as the people notified reach it: the links in alert notifications start with it.", "http://127.0.0.1:8080") { config, node, key throws(ConfigError) in
            config.alertsPublicURL = try node.httpURL(key)
        },
        option("alerts.delivery_attempts", "Attempts to deliver one notification to one channel before it is marked failed.", "6") { config, node, key throws(ConfigError) in
            config.alertsDeliveryAttempts = try node.integer(key, in: 1...20)
        },
        option("alerts.first_retry_ms", "The wait before a failed notification is tried again; doubled after each failure.", "5000") { config, node, key throws(ConfigError) in
            config.alertsFirstRetryMilliseconds = try node.integer(key, in: 10...3_600_000)
        },
        option("alerts.smtp.host", "The SMTP server email channels send through; empty for none.", "\"\"") { config, node, key throws(ConfigError) in
            config.alertsSMTPHost = try node.optionalString(key)
        },
        option("alerts.smtp.port", "Port of the SMTP server (25 for a relay, 587 with starttls, 465 with tls).", "25") { config, node, key throws(ConfigError) in
            config.alertsSMTPPort = try node.integer(key, in: 1...65535)
        },
        option("alerts.smtp.security", """
            How the connection to the SMTP server is protected:
              none:     plain SMTP, for a local MTA or a relay that trusts this host;
              starttls: plain, then TLS after STARTTLS; a server that does not offer it is refused;
              tls:      TLS from the first byte (SMTPS).
            The server's certificate is verified against the system's roots or alerts.smtp.ca_file.
            """, "none") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard let mode = SMTPSecurity(rawValue: text) else { throw ConfigError(key: key, "expected none, starttls or tls; got \"\(text)\"") }
            config.alertsSMTPSecurity = mode
        },
        option("alerts.smtp.ca_file", "PEM certificates of the CAs the SMTP server's certificate is verified with, instead of the system's.", "null") { config, node, key throws(ConfigError) in
            config.alertsSMTPCAFile = try node.optionalString(key)
        },
        option("alerts.smtp.username", "Logs in with AUTH PLAIN (or LOGIN) as this user; needs alerts.smtp.security starttls or tls, as the password is never sent in the clear.", "\"\"") { config, node, key throws(ConfigError) in
            config.alertsSMTPUsername = try node.optionalString(key)
        },
        option("alerts.smtp.password", "The password of alerts.smtp.username; best given as PYFLARE_ALERTS_SMTP_PASSWORD rather than in this file.", "\"\"") { config, node, key throws(ConfigError) in
            config.alertsSMTPPassword = try node.optionalString(key)
        },
        option("alerts.smtp.from", "The sender address of alert emails.", "pyflare@localhost") { config, node, key throws(ConfigError) in
            config.alertsSMTPFrom = try node.nonEmptyString(key)
        },
        option("rca.clusters.schedule", "When failures are clustered by message template (every 1m, a cron expression…).", "every 1m") { config, node, key throws(ConfigError) in
            config.rca.clustersSchedule = try node.schedule(key)
        },
        option("rca.clusters.similarity", "The share of a template's fixed words a failure message must match to join its cluster.", "0.6") { config, node, key throws(ConfigError) in
            config.rca.clusterSimilarity = try node.double(key, in: 0.1...1)
        },
        option("rca.slices.schedule", "When slice analysis runs.", "every 15m") { config, node, key throws(ConfigError) in
            config.rca.slicesSchedule = try node.schedule(key)
        },
        option("rca.slices.window_hours", "Slice analysis looks at the requests of this many past hours.", "24") { config, node, key throws(ConfigError) in
            config.rca.slices.window = Int64(try node.integer(key, in: 1...24 * 90)) * 3_600_000_000_000
        },
        option("rca.slices.min_support", "A slice needs this many requests to be tested.", "30") { config, node, key throws(ConfigError) in
            config.rca.slices.minSupport = try node.integer(key, in: 5...1_000_000)
        },
        option("rca.slices.false_discovery_rate", "The Benjamini-Hochberg false discovery rate a finding must pass to be significant.", "0.05") { config, node, key throws(ConfigError) in
            config.rca.slices.falseDiscoveryRate = try node.double(key, in: 0.0001...0.5)
        },
        option("rca.slices.population", "Which spans are requests for slice analysis: a SQL condition on the spans table.", "model IS NOT NULL") { config, node, key throws(ConfigError) in
            config.rca.slices.population = try node.nonEmptyString(key)
        },
        option("rca.slices.prompt_template_keys", "Attribute keys naming a request's prompt template (the first present wins), e.g. [gen_ai.prompt.template.name, llm.prompt_template.template]; a list, or comma-separated. Empty by default: reading attributes costs about 30 times the promoted columns.", "[]") { config, node, key throws(ConfigError) in
            config.rca.slices.promptTemplateKeys = try node.strings(key)
        },
        option("rca.slices.attribute_keys", "More span attribute keys to slice by, each a dimension of its own; a list, or comma-separated.", "[]") { config, node, key throws(ConfigError) in
            config.rca.slices.attributeKeys = try node.strings(key)
        },
        option("rca.patterns.schedule", "When pattern detection runs.", "every 5m") { config, node, key throws(ConfigError) in
            config.rca.patternsSchedule = try node.schedule(key)
        },
        option("rca.patterns.lookback_hours", "Error spikes, latency trends and user segments are looked for in this many past hours.", "24") { config, node, key throws(ConfigError) in
            config.rca.patterns.lookback = Int64(try node.integer(key, in: 1...24 * 30)) * 3_600_000_000_000
        },
        option("rca.patterns.spike_z", "The robust z-score (median and MAD of the buckets before) an error-rate bucket needs to be a spike.", "4") { config, node, key throws(ConfigError) in
            config.rca.patterns.spikeZ = try node.double(key, in: 1...100)
        },
        option("rca.patterns.min_errors", "An error-rate bucket needs this many errors to be a spike.", "5") { config, node, key throws(ConfigError) in
            config.rca.patterns.minErrors = try node.integer(key, in: 1...1_000_000)
        },
        option("rca.patterns.min_cost_usd", "Spend this little above normal (US dollars, 24 hours) is never a cost anomaly.", "1.0") { config, node, key throws(ConfigError) in
            config.rca.patterns.minCostUSD = try node.double(key, in: 0...1_000_000)
        },
        option("evaluations.schedule", "When evaluation results carried by spans and logs (gen_ai.evaluation.result events, pyflare.quality.* attributes) are read into the evaluations table.", "every 1m") { config, node, key throws(ConfigError) in
            config.quality.evaluationsSchedule = try node.schedule(key)
        },
        option("evaluations.pass_threshold", "A result with a score and no verdict label passes at or above this score (below it, for names in lower_is_better).", "0.5") { config, node, key throws(ConfigError) in
            config.quality.verdicts.passThreshold = try node.double(key, in: -1e9...1e9)
        },
        option("evaluations.lower_is_better", "Name fragments of evaluations whose score measures a fault (a high score fails).", "[hallucination, toxicity, toxic, bias, harm, pii, jailbreak]") { config, node, key throws(ConfigError) in
            config.quality.verdicts.lowerIsBetter = try node.strings(key).map { $0.lowercased() }
        },
        option("evaluations.rag.schedule", "When the local RAG evaluator scores retrievals and their answers.", "every 5m") { config, node, key throws(ConfigError) in
            config.quality.ragSchedule = try node.schedule(key)
        },
        option("evaluations.judge.endpoint", "An OpenAI-compatible endpoint for LLM-as-judge (a base URL ending in /v1, or the full /chat/completions URL). Empty: the judge is off.", "\"\"") { config, node, key throws(ConfigError) in
            config.quality.judge.endpoint = try node.optionalString(key)
        },
        option("evaluations.judge.api_key", "Bearer token for the judge endpoint (better set as PYFLARE_EVALUATIONS_JUDGE_API_KEY).", "\"\"") { config, node, key throws(ConfigError) in
            config.quality.judge.apiKey = try node.optionalString(key)
        },
        option("evaluations.judge.model", "The judge's model; its calls are costed at this model's price.", "gpt-4o-mini") { config, node, key throws(ConfigError) in
            config.quality.judge.model = try node.nonEmptyString(key)
        },
        option("evaluations.judge.schedule", "When the judge looks at new LLM spans.", "every 5m") { config, node, key throws(ConfigError) in
            config.quality.judgeSchedule = try node.schedule(key)
        },
        option("evaluations.judge.sample_rate", "The share of LLM spans judged (chosen by span id, so a span is in or out for good).", "0.1") { config, node, key throws(ConfigError) in
            config.quality.judge.sampleRate = try node.double(key, in: 0...1)
        },
        option("evaluations.judge.services", "Only spans of these services are judged; empty: all.", "[]") { config, node, key throws(ConfigError) in
            config.quality.judge.services = try node.strings(key)
        },
        option("evaluations.judge.models", "Only spans of these models are judged; empty: all.", "[]") { config, node, key throws(ConfigError) in
            config.quality.judge.models = try node.strings(key)
        },
        option("evaluations.judge.operations", "Only spans of these operations are judged; empty: all.", "[]") { config, node, key throws(ConfigError) in
            config.quality.judge.operations = try node.strings(key)
        },
        option("evaluations.judge.evaluators", """
            What the judge checks: a list of {name, kind, template, attribute}. kind is hallucination
            (output against input and retrieved context), reference (against the reference answer in
            attribute, default pyflare.reference.output) or pairwise (against the baseline output in
            attribute, default pyflare.baseline.output). template overrides the built-in prompt; it
            may use {{input}}, {{context}}, {{output}}, {{reference}} and {{baseline}}.
            """, "[{name: hallucination, kind: hallucination}]") { config, node, key throws(ConfigError) in
            config.quality.judge.evaluators = try JudgeEvaluatorParser.parse(node, key: key)
        },
        option("evaluations.judge.timeout_seconds", "Time limit of one judge call.", "30") { config, node, key throws(ConfigError) in
            config.quality.judge.timeoutSeconds = try node.double(key, in: 0.1...600)
        },
        option("evaluations.judge.attempts", "Tries per judge call (429, 5xx, timeouts and network errors are retried with exponential backoff, honouring Retry-After).", "3") { config, node, key throws(ConfigError) in
            config.quality.judge.attempts = try node.integer(key, in: 1...10)
        },
        option("evaluations.judge.backoff_seconds", "Wait before the first retry; doubled for each next one.", "1") { config, node, key throws(ConfigError) in
            config.quality.judge.firstBackoffSeconds = try node.double(key, in: 0...60)
        },
        option("evaluations.judge.max_daily_spend_usd", "Judge spend per UTC day; once reached, nothing more is judged that day. 0: no cap.", "1.0") { config, node, key throws(ConfigError) in
            config.quality.judge.maxDailySpendUSD = try node.double(key, in: 0...1_000_000)
        },
        option("evaluations.judge.max_calls_per_run", "Judge calls per run; the next run goes on where it stopped.", "50") { config, node, key throws(ConfigError) in
            config.quality.judge.maxCallsPerRun = try node.integer(key, in: 1...100_000)
        },
        option("drift.schedule", "When drift is scored (each complete window since the last run).", "every 15m") { config, node, key throws(ConfigError) in
            config.quality.driftSchedule = try node.schedule(key)
        },
        option("drift.scope_by", "Drift is measured per model or per service.", "model") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard let kind = DriftSettings.ScopeKind(rawValue: text) else { throw ConfigError(key: key, "expected model or service; got \"\(text)\"") }
            config.quality.drift.scopeBy = kind
        },
        option("drift.window", "The windows drift is scored on (a duration: 15m, 1h, 1d).", "1h") { config, node, key throws(ConfigError) in
            config.quality.drift.window = try node.duration(key)
        },
        option("drift.reference.offset", "A window's rolling reference ends this long before the window ends (7d with length 1h: the same hour a week before).", "7d") { config, node, key throws(ConfigError) in
            config.quality.drift.referenceOffset = try node.duration(key)
        },
        option("drift.reference.length", "The length of the rolling reference.", "1h") { config, node, key throws(ConfigError) in
            config.quality.drift.referenceLength = try node.duration(key)
        },
        option("drift.reference.since", "With drift.reference.until: one fixed reference range (RFC 3339) for every window instead of the rolling one. Scopes pinned through PUT /api/v1/drift/references/{scope} use theirs.", "\"\"") { config, node, key throws(ConfigError) in
            config.quality.drift.fixedReferenceSince = try node.optionalTime(key)
        },
        option("drift.reference.until", "The end of the fixed reference range.", "\"\"") { config, node, key throws(ConfigError) in
            config.quality.drift.fixedReferenceUntil = try node.optionalTime(key)
        },
        option("drift.numeric_attributes", "Numeric span attributes to measure drift on, besides tokens, latency and cost.", "[]") { config, node, key throws(ConfigError) in
            config.quality.drift.numericAttributes = try node.strings(key)
        },
        option("drift.categorical_attributes", "String span attributes to measure drift on, besides model mix, operation and finish reason.", "[]") { config, node, key throws(ConfigError) in
            config.quality.drift.categoricalAttributes = try node.strings(key)
        },
        option("drift.psi.bins", "PSI bins of a numeric feature (quantiles of the reference).", "10") { config, node, key throws(ConfigError) in
            config.quality.drift.bins = try node.integer(key, in: 2...100)
        },
        option("drift.psi.min_per_bin", "Reference samples a PSI bin needs; smaller bins merge with a neighbour.", "20") { config, node, key throws(ConfigError) in
            config.quality.drift.minimumPerBin = try node.integer(key, in: 1...1_000_000)
        },
        option("drift.psi.epsilon", "Shares are clamped to at least this, against log 0.", "0.0001") { config, node, key throws(ConfigError) in
            config.quality.drift.epsilon = try node.double(key, in: 1e-12...0.1)
        },
        option("drift.psi.moderate", "PSI from which drift is moderate.", "0.1") { config, node, key throws(ConfigError) in
            config.quality.drift.moderate = try node.double(key, in: 0...100)
        },
        option("drift.psi.significant", "PSI from which drift is significant.", "0.25") { config, node, key throws(ConfigError) in
            config.quality.drift.significant = try node.double(key, in: 0...100)
        },
        option("drift.min_samples", "Spans a window and its reference each need for a feature to be scored.", "50") { config, node, key throws(ConfigError) in
            config.quality.drift.minimumSamples = try node.integer(key, in: 2...10_000_000)
        },
        option("drift.embedding.key", "The span attribute holding an embedding (an array of numbers) for MMD drift.", "pyflare.embedding.vector") { config, node, key throws(ConfigError) in
            config.quality.drift.embeddingKey = try node.nonEmptyString(key)
        },
        option("drift.embedding.permutations", "Permutations of the MMD test's p-value.", "200") { config, node, key throws(ConfigError) in
            config.quality.drift.permutations = try node.integer(key, in: 10...100_000)
        },
        option("drift.embedding.seed", "Seed of the permutations and of sampling, so a score can be reproduced.", "42") { config, node, key throws(ConfigError) in
            config.quality.drift.seed = UInt64(try node.integer(key, in: 0...Int.max))
        },
        option("drift.embedding.max_samples", "Embeddings per side of one MMD test; larger windows are sampled.", "500") { config, node, key throws(ConfigError) in
            config.quality.drift.maxEmbeddingSamples = try node.integer(key, in: 10...20_000)
        },
        option("drift.embedding.bandwidth", "RBF kernel bandwidth of MMD; empty: the median heuristic.", "\"\"") { config, node, key throws(ConfigError) in
            config.quality.drift.bandwidth = try node.optionalString(key) == nil ? nil : try node.double(key, in: 1e-12...1e12)
        },
        option("drift.embedding.alpha", "MMD drift is significant below this p-value, moderate below twice it.", "0.05") { config, node, key throws(ConfigError) in
            config.quality.drift.alpha = try node.double(key, in: 1e-6...0.5)
        },
        option("telemetry.service_name", "service.name of metrics and spans of the JSON telemetry API (/api/v1/telemetry) without a plugin_id tag.", "pyflare-telemetry") { config, node, key throws(ConfigError) in
            config.telemetry.serviceName = try node.nonEmptyString(key)
        },
        option("telemetry.span_timeout_seconds", """
            A telemetry span with no request (start, tags, logs) for this long is finished by the
            server with status error. Open spans live in memory only: nothing of a span is written
            before it is finished (at shutdown, open spans are finished with status error).
            """, "300") { config, node, key throws(ConfigError) in
            config.telemetry.spanTimeout = .milliseconds(Int64(try node.double(key, in: 0.05...604_800) * 1000))
        },
        option("telemetry.max_open_spans", "Telemetry spans open at once; starting one more gets 429.", "10000") { config, node, key throws(ConfigError) in
            config.telemetry.maxOpenSpans = try node.integer(key, in: 1...10_000_000)
        },
        option("telemetry.max_open_bytes", "Memory the open telemetry spans' names, tags and logs may take; beyond it 429.", "67108864") { config, node, key throws(ConfigError) in
            config.telemetry.maxOpenBytes = try node.integer(key, in: 1 << 16...(1 << 36))
        },
        option("telemetry.max_body_bytes", "Largest telemetry API request body; larger ones get 413.", "1048576") { config, node, key throws(ConfigError) in
            config.telemetry.maxBodyBytes = try node.integer(key, in: 1024...(1 << 30))
        },
        option("batcher.max_batch_spans", "Flush to the sink when this many spans wait.", "8192") { config, node, key throws(ConfigError) in
            config.batcher.maxBatchSpans = try node.integer(key, in: 1...10_000_000)
        },
        option("batcher.flush_interval_ms", """
            0: an idle worker writes what waits at once, so requests arriving during a write share
            the next one (group commit, lowest latency). Above 0: hold spans until max_batch_spans
            or this age, for larger writes at the cost of latency (each request waits for its write).
            """, "0") { config, node, key throws(ConfigError) in
            config.batcher.flushInterval = .milliseconds(try node.integer(key, in: 0...3_600_000))
        },
        option("batcher.max_queued_spans", "Spans held at once before receivers answer 429 (waiting, queued and being written).", "200000") { config, node, key throws(ConfigError) in
            config.batcher.maxQueuedSpans = try node.integer(key, in: 1...100_000_000)
        },
        option("batcher.max_queued_bytes", "The bytes those spans may take (their requests) before receivers answer 429: memory stays bounded whatever the size of spans.", "33554432") { config, node, key throws(ConfigError) in
            config.batcher.maxQueuedBytes = try node.integer(key, in: 1 << 16...(1 << 36))
        },
        option("batcher.workers", "Concurrent writes to the sink.", "2") { config, node, key throws(ConfigError) in
            config.batcher.workers = try node.integer(key, in: 1...64)
        },
        option("sink.kind", """
            Where spans, log records and metric points go: store (the durable store: WAL, segments,
            index.db; the trace, log and metric APIs read it), kafka (produced to exporters.kafka's
            topics and acknowledged once the broker has them: a stateless collector), file (JSON
            lines, for debugging) or counting (discards, for benchmarks).
            """, "store") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard let kind = PyFlareConfiguration.SinkConfiguration.Kind(rawValue: text) else {
                throw ConfigError(key: key, "expected store, kafka, file or counting; got \"\(text)\"")
            }
            config.sink.kind = kind
        },
        option("sink.file.directory", "Directory of the JSON-lines files; relative paths are under data_dir.", "exports") { config, node, key throws(ConfigError) in
            config.sink.fileDirectory = try node.nonEmptyString(key)
        },
        option("sink.file.max_file_bytes", "Rotate spans.jsonl to spans.N.jsonl when it would pass this size.", "67108864") { config, node, key throws(ConfigError) in
            config.sink.fileMaxBytes = try node.integer(key, in: 1024...(1 << 40))
        },
        option("sink.file.max_files", "Rotated files kept, oldest deleted first; 0 keeps all.", "10") { config, node, key throws(ConfigError) in
            config.sink.fileMaxFiles = try node.integer(key, in: 0...1_000_000)
        },
        option("wal.fsync", """
            When the WAL forces writes to disk, and so what a crash can lose:
              always:   fsync before every acknowledgement (concurrent requests share one); nothing
                        acknowledged is lost, even on power loss.
              interval: fsync when a write comes wal.fsync_interval_ms or more after the last one,
                        and in the background every ~100 ms; a process crash loses nothing, a power
                        loss or kernel crash about one interval of acknowledged spans.
              never:    leave it to the OS; a process crash loses nothing, a power loss what the OS
                        had not yet written (typically up to 30 s).
            """, "always") { config, node, key throws(ConfigError) in
            let text = try node.nonEmptyString(key)
            guard let mode = WALSyncMode(rawValue: text) else {
                throw ConfigError(key: key, "expected always, interval or never; got \"\(text)\"")
            }
            config.store.walSync = mode
        },
        option("wal.fsync_interval_ms", "With wal.fsync: interval, the longest acknowledged spans stay unsynced.", "100") { config, node, key throws(ConfigError) in
            config.store.walSyncInterval = .milliseconds(try node.integer(key, in: 1...60_000))
        },
        option("wal.max_file_bytes", "A WAL file is closed and a new one started past this size.", "67108864") { config, node, key throws(ConfigError) in
            config.store.walMaxFileBytes = try node.integer(key, in: 1 << 16...(1 << 34))
        },
        option("segments.max_bytes", "Seal unsealed spans into a segment once they take this much memory (small, so memory stays bounded; compaction merges the segments later).", "12582912") { config, node, key throws(ConfigError) in
            config.store.segmentMaxBytes = try node.integer(key, in: 1 << 16...(1 << 34))
        },
        option("segments.max_age_ms", "…or once the oldest unsealed span has waited this long.", "10000") { config, node, key throws(ConfigError) in
            config.store.segmentMaxAge = .milliseconds(try node.integer(key, in: 10...86_400_000))
        },
        option("segments.block_spans", "Spans per block (row group); a trace lookup reads whole blocks.", "1024") { config, node, key throws(ConfigError) in
            config.store.blockRows = try node.integer(key, in: 16...1_048_576)
        },
        option("segments.max_unsealed_bytes", "Writers wait (and receivers answer 429) while unsealed spans take more memory than this: with batcher.max_queued_bytes, what bounds the server's memory under a burst (docs/benchmarks.md).", "41943040") { config, node, key throws(ConfigError) in
            config.store.maxUnsealedBytes = try node.integer(key, in: 1 << 20...(1 << 36))
        },
        option("storage.min_free_bytes", """
            When free space under data_dir falls below this, ingest answers 503 with Retry-After
            (gRPC UNAVAILABLE) instead of failing writes halfway, /ready reports it, and ingest
            resumes by itself once free space is 5% above it again. 0 turns the check off.
            """, "268435456") { config, node, key throws(ConfigError) in
            config.minFreeBytes = Int64(try node.integer(key, in: 0...(1 << 50)))
        },
        option("retention.schedule", "When the retention job runs: expired segments deleted, straddling ones rewritten, small ones merged, old outputs pruned, the index vacuumed.", "every 10m") { config, node, key throws(ConfigError) in
            config.retention.schedule = try node.schedule(key)
        },
        option("retention.spans", "Age after which spans are deleted (by start time), e.g. 30d; 0 keeps them forever.", "30d") { config, node, key throws(ConfigError) in
            config.retention.policy.spans = try node.retentionAge(key)
        },
        option("retention.logs", "Age after which log records are deleted; 0 keeps them forever.", "30d") { config, node, key throws(ConfigError) in
            config.retention.policy.logs = try node.retentionAge(key)
        },
        option("retention.metric_points", "Age after which metric points are deleted; 0 keeps them forever.", "30d") { config, node, key throws(ConfigError) in
            config.retention.policy.metricPoints = try node.retentionAge(key)
        },
        option("retention.overrides", """
            Other ages for a service, an environment (deployment.environment[.name]) or both; the most
            specific match wins. Applies to spans, logs and metric points. Example:
              - {service: checkout, age: 90d}
              - {environment: dev, age: 3d}
              - {service: checkout, environment: prod, age: 0}   # forever
            """, "[]") { config, node, key throws(ConfigError) in
            config.retention.policy.overrides = try node.retentionOverrides(key)
        },
        option("retention.max_bytes", "Cap on the bytes of segment files: past it the oldest segments are deleted first. 0 for no cap.", "0") { config, node, key throws(ConfigError) in
            config.retention.policy.maxBytes = Int64(try node.integer(key, in: 0...(1 << 60)))
        },
        option("retention.outputs", "Age of rollups and the other materialized outputs (cost summaries, evaluations, drift scores, clusters, slices, patterns, budget alerts): longer than the raw data, so summaries outlive it. 0 keeps them forever.", "400d") { config, node, key throws(ConfigError) in
            config.retention.policy.outputs = try node.retentionAge(key)
        },
        option("retention.output_tables", "Ages of single output tables, overriding retention.outputs, e.g. {rollup_1m: 30d, rollup_1d: 0}.", "{}") { config, node, key throws(ConfigError) in
            guard case .mapping(let tables) = node else { throw ConfigError(key: key, "expected a mapping of table name to age") }
            config.retention.policy.outputTables = [:]
            for (table, age) in tables {
                let name = table.string ?? ""
                config.retention.policy.outputTables[name] = try age.retentionAge(key + "." + name)
            }
        },
        option("compaction.target_segment_bytes", "A merge gathers small segments until their column data (uncompressed) reaches this size; bounds a merge's memory.", "67108864") { config, node, key throws(ConfigError) in
            config.retention.compaction.targetSegmentBytes = try node.integer(key, in: 1 << 16...(1 << 34))
        },
        option("compaction.small_segment_bytes", "Segments with less column data (uncompressed) than this are merged with their neighbours in time.", "16777216") { config, node, key throws(ConfigError) in
            config.retention.compaction.smallSegmentBytes = try node.integer(key, in: 0...(1 << 34))
        },
        option("compaction.delete_grace", "Replaced segment files stay this long after a swap, so SQL statements already reading them finish (a duration, or 0).", "2m") { config, node, key throws(ConfigError) in
            config.retention.compaction.deleteGrace = .nanoseconds(try node.retentionAge(key))
        },
        option("compaction.max_bytes_per_second", "Segment bytes a compaction reads and writes per second, at most; 0 for no limit.", "0") { config, node, key throws(ConfigError) in
            config.retention.compaction.maxBytesPerSecond = try node.integer(key, in: 0...(1 << 40))
        },
        option("sampler", """
            Which traces to keep; every strategy keeps or drops whole traces.
              strategy: always_on | always_off | probabilistic | rate_limiting | parent_based | composite | attribute_based
              rate: 0.25                    # probabilistic: share of traces kept (FNV-1a of the trace id)
              traces_per_second: 100        # rate_limiting: token bucket of new traces per second
              root: {strategy: probabilistic, rate: 0.1}   # parent_based: decides root spans; children follow
              default_rate: 0.1             # composite and attribute_based: rate when nothing more specific applies
              services: {chat-api: 1.0}     # composite: rate per service.name
              rules:                        # attribute_based: first match wins; value optional (presence suffices)
                - {key: error.type, rate: 1.0}
                - {key: gen_ai.request.model, value: gpt-4o, rate: 0.5}
            Environment: PYFLARE_SAMPLER_STRATEGY, PYFLARE_SAMPLER_RATE, PYFLARE_SAMPLER_TRACES_PER_SECOND, PYFLARE_SAMPLER_DEFAULT_RATE.
            """, "{strategy: always_on}") { config, node, key throws(ConfigError) in
            config.sampler = try SamplerSettingsParser.parse(node, key: key, into: config.sampler)
        },
        option("pricing.models", """
            Prices (USD per million tokens) that replace or extend the built-in table, matched by
            exact model id and then by longest prefix. Example:
              - {model: my-finetune, provider: openai, input: 3.0, output: 12.0, cache_read: 1.5}
            """, "[]") { config, node, key throws(ConfigError) in
            config.pricingOverrides = try PricingParser.parse(node, key: key)
        },
    ]

    /// Options also settable one scalar at a time from the environment, beyond the leaf keys above.
    static let environmentOnly: [(key: String, apply: @Sendable (inout PyFlareConfiguration, Node, String) throws(ConfigError) -> Void)] = [
        ("sampler.strategy", { config, node, key throws(ConfigError) in config.sampler.strategy = try node.nonEmptyString(key) }),
        ("sampler.rate", { config, node, key throws(ConfigError) in config.sampler.rate = try node.double(key, in: 0...1) }),
        ("sampler.traces_per_second", { config, node, key throws(ConfigError) in config.sampler.tracesPerSecond = try node.double(key, in: 0...1e9) }),
        ("sampler.default_rate", { config, node, key throws(ConfigError) in config.sampler.defaultRate = try node.double(key, in: 0...1) }),
    ]

    private static func option(_ key: String, _ help: String, _ defaultYAML: String,
                               _ apply: @escaping @Sendable (inout PyFlareConfiguration, Node, String) throws(ConfigError) -> Void) -> ConfigOption {
        ConfigOption(key: key, help: help, defaultYAML: defaultYAML, apply: apply)
    }
}

