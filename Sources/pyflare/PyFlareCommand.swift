import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import PyFlareAccess
import PyFlareServer
import PyFlareModel
import PyFlareStore
import PyFlareSQL
import PyFlareAPI
import PyFlareWire

@main
struct PyFlareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pyflare",
        abstract: "Observability and analytics server for AI/LLM applications.",
        subcommands: [Serve.self, SQL.self, Jobs.self, Compact.self, Export.self, Templates.self, Keys.self, Projects.self, Config.self, Segment.self],
        defaultSubcommand: Serve.self)
}

/// The configuration from `path`, the environment and `flags`; a problem is printed
/// after `command` and exits with status 2.
func loadConfiguration(path: String?, flags: [(key: String, value: String)], command: String) throws -> PyFlareConfiguration {
    do {
        return try ConfigurationLoader().load(path: path, environment: ProcessInfo.processInfo.environment, flags: flags)
    } catch {
        FileHandle.standardError.write(Data("\(command): \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// `--config` and `--data-dir`, shared by the commands that open a data directory.
struct StoreOptions: ParsableArguments {
    @Option(help: "YAML config file (default: \(ConfigurationLoader.defaultPath) if present).")
    var config: String?
    @Option(help: "Data directory (default ./data).")
    var dataDir: String?
    @Option(help: "The project whose data to open (default: default).")
    var project: String?

    /// The configuration, with `--data-dir` and the command's own `flags` over the file and
    /// environment, and the data directory of `--project`.
    func load(command: String, flags: [(key: String, value: String)] = []) throws -> PyFlareConfiguration {
        var configuration = try loadConfiguration(path: config, flags: (dataDir.map { [("data_dir", $0)] } ?? []) + flags, command: command)
        if let project, project != AccessCatalog.defaultProject {
            guard AccessCatalog.isValidProjectName(project),
                  FileManager.default.fileExists(atPath: configuration.dataDirectory + "/projects/" + project) else {
                FileHandle.standardError.write(Data("\(command): no project \(project) in \(configuration.dataDirectory)\n".utf8))
                throw ExitCode(2)
            }
            configuration.dataDirectory += "/projects/" + project
        }
        return configuration
    }
}

extension SQLEngine {
    /// An engine over the configured data directory for a command, whether the server runs or not.
    static func offline(_ configuration: PyFlareConfiguration, limits: SQLLimits, lane: SQLLane = .adHoc) throws(SQLError) -> SQLEngine {
        try SQLEngine.offline(dataDirectory: configuration.dataDirectory,
                              pricing: PricingTable.builtIn(overrides: configuration.pricingOverrides), limits: limits, lane: lane,
                              remote: configuration.remoteSegmentsInEffect)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive OTLP telemetry and serve the API.",
        discussion: "Options come from flags, then PYFLARE_* environment variables, then the config file, then defaults.")

    @OptionGroup var store: StoreOptions
    @Option(help: "OTLP/HTTP port (default 4318).")
    var otlpHttpPort: Int?
    @Option(help: "OTLP/gRPC port (default 4317).")
    var otlpGrpcPort: Int?
    @Option(help: "REST API port (default 8080).")
    var apiPort: Int?
    @Option(help: "Address the OTLP receivers bind (default 0.0.0.0).")
    var otlpHost: String?
    @Option(help: "Address the REST API binds (default 127.0.0.1).")
    var apiHost: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Flag(help: "Serve beyond loopback with auth.enabled: false (only behind something that checks every request).")
    var insecure = false

    var flagOverrides: [(key: String, value: String)] {
        var flags: [(String, String)] = []
        if let otlpHttpPort { flags.append(("otlp.http.port", String(otlpHttpPort))) }
        if let otlpGrpcPort { flags.append(("otlp.grpc.port", String(otlpGrpcPort))) }
        if let apiPort { flags.append(("api.port", String(apiPort))) }
        if let otlpHost {
            flags.append(("otlp.http.host", otlpHost))
            flags.append(("otlp.grpc.host", otlpHost))
        }
        if let apiHost { flags.append(("api.host", apiHost)) }
        if let logLevel { flags.append(("log_level", logLevel)) }
        return flags
    }

    func run() async throws {
        let configuration = try store.load(command: "pyflare", flags: flagOverrides)
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "pyflare")
        logger.logLevel = level
        do {
            try await PyFlareServer(configuration: configuration, registry: registry, logger: logger, insecure: insecure).run()
        } catch let error as ConfigError {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
    }
}

struct SQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run read-only SQL against a data directory (the server may be running or not).",
        discussion: """
            Tables: spans, logs, metric_points (every stored record, sealed or not) and the index \
            tables (traces, segments, metric_names, …); see docs/sql.md. Example:
              pyflare sql "SELECT model, count(*), sum(cost_micros) FROM spans GROUP BY model"
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, csv, json
    }

    @Argument(help: "One SELECT statement; ? placeholders take --param values in order.")
    var statement: String
    @Option(name: .customLong("param"), help: "A value for the next ? placeholder (integers and decimals are numbers; 'null' is NULL).")
    var parameters: [String] = []
    @Option(help: "table, csv or json.")
    var format: Format = .table
    @OptionGroup var store: StoreOptions
    @Option(help: "Time limit of the statement in milliseconds (default sql.timeout_ms).")
    var timeoutMs: Int?
    @Option(help: "Row limit: more rows is an error (default sql.max_rows).")
    var maxRows: Int?
    @Option(help: "Print at most this many rows and say the answer was truncated.")
    var limit: Int?

    func run() async throws {
        var flags: [(key: String, value: String)] = []
        if let timeoutMs { flags.append(("sql.timeout_ms", String(timeoutMs))) }
        if let maxRows { flags.append(("sql.max_rows", String(maxRows))) }
        let configuration = try store.load(command: "pyflare sql", flags: flags)
        let values: [SQLValue] = parameters.map { text in
            if text == "null" { return .null }
            if let integer = Int64(text) { return .integer(integer) }
            if let real = Double(text), text.contains(".") { return .real(real) }
            return .text(text)
        }
        do {
            let engine = try SQLEngine.offline(configuration, limits: configuration.sql)
            let result = try await engine.run(statement, parameters: values, limit: limit)
            switch format {
            case .table: FileHandle.standardOutput.write(Data(result.table.utf8))
            case .csv: FileHandle.standardOutput.write(Data(result.csv.utf8))
            case .json:
                var json = JSONWriter()
                result.write(to: &json)
                json.byte(0x0A)
                FileHandle.standardOutput.write(Data(json.bytes))
            }
        } catch {
            var message = "pyflare sql: \(error.kind.rawValue): \(error.message)"
            if let offset = error.offset {
                message += "\n  \(statement)\n  " + String(repeating: " ", count: statement.utf8.prefix(offset).count) + "^"
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            throw ExitCode(1)
        }
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Configuration helpers.", subcommands: [Init.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a fully commented example configuration.")

        @Option(name: .shortAndLong, help: "Where to write it; - for standard output.")
        var output: String = ConfigurationLoader.defaultPath
        @Flag(help: "Overwrite an existing file.")
        var force = false

        func run() throws {
            let text = ConfigurationTemplate.text
            if output == "-" {
                print(text, terminator: "")
                return
            }
            if FileManager.default.fileExists(atPath: output), !force {
                FileHandle.standardError.write(Data("pyflare: \(output) exists; use --force to overwrite\n".utf8))
                throw ExitCode(1)
            }
            let directory = (output as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print("wrote \(output)")
        }
    }
}

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Segment file tools.", subcommands: [Inspect.self, Scan.self])

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read and decode some columns of every block, and report the speed (spans/s).")

        @Argument(help: "Segment files.")
        var paths: [String]
        @Option(help: "Comma-separated column names (see `segment inspect`).")
        var columns = "start_time,service,cost_micros"

        func run() throws {
            let result = try SegmentInspection.scan(paths: paths, columns: columns.split(separator: ",").map(String.init))
            let rate = result.seconds > 0 ? Double(result.spans) / result.seconds : 0
            print("scanned \(result.spans) spans in \(result.blocks) blocks (\(result.compressedBytes) compressed bytes of \(columns)) "
                  + "in \(String(format: "%.3f", result.seconds)) s: \(String(format: "%.0f", rate)) spans/s")
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a segment file's blocks and the size of each column before and after compression.")

        @Argument(help: "Segment files (DATA_DIR/segments/*.seg).")
        var paths: [String]
        @Flag(help: "Also read, checksum and decode every chunk.")
        var verify = false

        func run() throws {
            var failed = false
            for path in paths {
                do {
                    print(try SegmentInspection.report(path: path, verify: verify))
                } catch {
                    FileHandle.standardError.write(Data("pyflare: \(error)\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}

