// swift-tools-version: 6.1
import PackageDescription
import Foundation

// Every numbered migration in migrations/, in order; each is embedded in the binary.
// Listed by hand rather than by reading the directory: SwiftPM caches the evaluated
// manifest by its text, so a new file would stay invisible until this file changes.
// SchemaTests checks that the list names every .sql file of the directory.
let migrationFiles = [
    "0001_initial.sql",
    "0002_logs_and_metrics.sql",
    "0003_analytics.sql",
    "0004_cost_by_dimension.sql",
    "0005_root_cause.sql",
    "0006_quality.sql",
    "0007_retention.sql",
    "0008_cost_by_key.sql",
    "0009_cancelled_runs.sql",
    "0010_sessions_users.sql",
    "0011_trace_feature_environment.sql",
    "0012_alerts.sql",
    "0013_alert_kinds.sql",
    "0014_evaluation_feature.sql",
    "0015_source_offsets.sql",
    "0016_remote_segments.sql",
]

// The built-in scheduled jobs of queries/, embedded in the binary like the migrations.
let builtInQueryFiles = [
    "rollup_1m.sql",
    "rollup_1h.sql",
    "rollup_1d.sql",
    "cost_attribution_1h.sql",
    "cost_by_dimension_1h.sql",
    "cost_by_dimension_1d.sql",
    "sessions_1h.sql",
    "users_1h.sql",
]

// The web UI (Sources/PyFlareAPI/UI), embedded in the binary so that `pyflare serve` alone
// serves it, offline, with no directory to deploy beside it. Listed by hand for the same
// reason as the migrations (a new file would stay invisible to a cached manifest); UIRoutes
// names each one, so a file missing here fails the build.
let webUIFiles = [
    "index.html",
    "style.css",
    "favicon.svg",
    "app.js",
    "util.js",
    "traces.js",
    "trace.js",
    "conversation.js",
    "sql.js",
    "logs.js",
    "sessions.js",
    "alerts.js",
    "overview.js",
    "chart.js",
    "costs.js",
    "rootcause.js",
    "quality.js",
    "operations.js",
]

// One set of settings for every target.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "pyflare",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pyflare", targets: ["pyflare"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.30.0"),
    ],
    targets: [
        // wire bytes → columnar span batches (protobuf and OTLP/JSON), no server code
        .target(name: "PyFlareWire", swiftSettings: swiftSettings),
        // the fixtures (Fixtures/) are read from the source tree through PyFlareTesting.WireFixtures
        .testTarget(name: "PyFlareWireTests", dependencies: ["PyFlareWire", "PyFlareTesting"],
                    exclude: ["Fixtures"], swiftSettings: swiftSettings),

        // normalization of AI conventions into first-class columns, pricing, the sink contract
        .target(name: "PyFlareModel", dependencies: ["PyFlareWire"],
                resources: [.embedInCode("Resources/pricing.json")], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareModelTests", dependencies: ["PyFlareModel", "PyFlareTesting"], swiftSettings: swiftSettings),

        // projects and API keys (access.db), and the one decision of who may do what
        .target(name: "PyFlareAccess", dependencies: [
            "PyFlareWire",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareAccessTests", dependencies: ["PyFlareAccess", "PyFlareTesting"], swiftSettings: swiftSettings),

        // receivers, sampler, batcher
        .target(name: "PyFlareIngest", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareAccess",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareIngestTests", dependencies: [
            "PyFlareIngest", "PyFlareTesting",
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),

        // OTLP/gRPC receiver (grpc-swift 2 over NIO HTTP/2), kept apart: it brings TLS and HTTP/2
        .target(name: "PyFlareGRPC", dependencies: [
            "PyFlareWire", "PyFlareIngest", "PyFlareAccess",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),

        // zstd from the system (apt: libzstd-dev)
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        // the CPU's CRC-32C instruction, which Swift cannot reach by itself
        .target(name: "CCRC32C"),

        // the numbered SQL migrations of index.db, embedded in the binary
        .target(name: "PyFlareMigrations", path: "migrations", exclude: ["README.md"],
                resources: migrationFiles.map { .embedInCode($0) }, swiftSettings: swiftSettings),

        // the durable store (WAL, segments, SQLite index) and the JSON-lines debugging exporter
        .target(name: "PyFlareStore", dependencies: [
            "PyFlareWire", "PyFlareModel", "CZstd", "CCRC32C", "PyFlareMigrations", "PyFlareObjectStorage",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareStoreTests", dependencies: ["PyFlareStore", "PyFlareSQL", "PyFlareTesting"], swiftSettings: swiftSettings),

        // SQL over the store: virtual tables on segments and unsealed records, lanes, limits, sketches
        .target(name: "PyFlareSQL", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareStore",
            .product(name: "GRDB", package: "GRDB.swift"),
            // the raw C API, for the virtual tables, the authorizer and the progress handler
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareSQLTests", dependencies: ["PyFlareSQL", "PyFlareStore", "PyFlareModel", "PyFlareTesting"],
                    swiftSettings: swiftSettings),

        // the built-in scheduled SQL jobs, embedded in the binary
        .target(name: "PyFlareQueries", path: "queries", exclude: ["README.md"],
                resources: builtInQueryFiles.map { .embedInCode($0) }, swiftSettings: swiftSettings),

        // the scheduler and its jobs: rollups, cost attribution, budgets
        .target(name: "PyFlareAnalytics", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareStore", "PyFlareSQL", "PyFlareQueries",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareAnalyticsTests", dependencies: [
            "PyFlareAnalytics", "PyFlareQueries", "PyFlareWire", "PyFlareStore", "PyFlareSQL", "PyFlareTesting",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),

        // Kafka between tiers: the exporter (a sink producing what was accepted) and the receiver (a consumer group into the pipeline)
        .target(name: "PyFlareKafka", dependencies: [
            "CRdKafka", "PyFlareWire", "PyFlareModel", "PyFlareIngest", "PyFlareStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),

        // S3-compatible object storage: Signature V4 and the few calls PyFlare makes (PUT verified, HEAD, ranged GET, DELETE)
        .target(name: "PyFlareObjectStorage", dependencies: [
            "PyFlareWire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareObjectStorageTests", dependencies: ["PyFlareObjectStorage"], swiftSettings: swiftSettings),

        // Parquet export of sealed segments: the format writer (Thrift compact, pages, footer) and the export job
        .target(name: "PyFlareExport", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareStore", "PyFlareSQL", "PyFlareAnalytics", "PyFlareObjectStorage",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareExportTests", dependencies: [
            "PyFlareExport", "PyFlareStore", "PyFlareSQL", "PyFlareTesting",
        ], swiftSettings: swiftSettings),

        // REST API: health, metrics, traces, the JSON telemetry API
        .target(name: "PyFlareAPI", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareIngest", "PyFlareStore", "PyFlareSQL", "PyFlareAnalytics", "PyFlareAccess",
            // No GRDB: the API reads through the owners' read models, never the index itself.
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], resources: webUIFiles.map { .embedInCode("UI/\($0)") }, swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareAPITests", dependencies: [
            "PyFlareAPI", "PyFlareStore", "PyFlareTesting",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),

        // configuration and wiring of every service
        .target(name: "PyFlareServer", dependencies: [
            "PyFlareWire", "PyFlareModel", "PyFlareIngest", "PyFlareGRPC", "PyFlareStore", "PyFlareSQL", "PyFlareAnalytics", "PyFlareAPI",
            "PyFlareAccess", "PyFlareExport", "PyFlareKafka",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "PyFlareServerTests", dependencies: ["PyFlareServer", "PyFlareTesting"], swiftSettings: swiftSettings),

        .executableTarget(name: "pyflare", dependencies: [
            "PyFlareServer", "PyFlareAccess", "PyFlareAPI", "PyFlareStore", "PyFlareSQL", "PyFlareAnalytics", "PyFlareModel", "PyFlareWire",
            "PyFlareExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // builders of OTLP payloads and temporary directories for tests and benchmarks
        .target(name: "PyFlareTesting", dependencies: ["PyFlareWire"], swiftSettings: swiftSettings),
    ]
)

// Benchmarks pull in ordo-one/benchmark; only `make bench` sets PYFLARE_BENCHMARKS.
if ProcessInfo.processInfo.environment["PYFLARE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(contentsOf: [
        .executableTarget(
            name: "DecodeBenchmarks",
            dependencies: [
                "PyFlareWire", "PyFlareModel", "PyFlareTesting",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DecodeBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                "PyFlareWire", "PyFlareModel", "PyFlareStore",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ])
}
