import Foundation
import PyFlareQueries
public import PyFlareStore
public import PyFlareSQL

/// The jobs of a server: the built-in `.sql` files, the user's directory of `.sql` files and
/// the Swift jobs, checked and put in the order they run when due together (a job after
/// the job it reads from).
public struct JobCatalog: Sendable {
    public var jobs: [JobDefinition]
    /// Files that could not be used; the server starts without them and says why.
    public var problems: [JobDefinitionError]

    public subscript(name: String) -> JobDefinition? {
        jobs.first { $0.name == name }
    }

    /// Adds a Swift job that needs the rest of the catalog to be built (retention prunes the
    /// outputs of every SQL job); it runs after the others when due together.
    public mutating func append(_ job: any AnalyticsJob) {
        jobs.append(JobDefinition(name: job.name, schedule: job.schedule, source: "built-in", work: .swift(job)))
    }

    /// The output table and time column of every SQL job.
    public var sqlOutputs: [MaterializedTable] {
        jobs.compactMap { job in
            if case .sql(let sql) = job.work { MaterializedTable(name: sql.output, timeColumn: sql.timeColumn) } else { nil }
        }
    }

    /// The SQL jobs among `names`: what a job reading their outputs needs to find their history.
    func sqlJobs(_ names: [String]) -> [SQLJob] {
        names.compactMap { name in
            if case .sql(let job) = self[name]?.work { job } else { nil }
        }
    }

    /// Reads every job. With `engine`, each statement is also prepared, so that SQLite's
    /// errors (syntax, unknown table or column, unknown parameter) are reported here, at the
    /// file and line they point to, rather than at the first run.
    public static func load(userDirectory: String?, swiftJobs: [any AnalyticsJob], engine: SQLEngine?) async -> JobCatalog {
        var catalog = JobCatalog(jobs: [], problems: [])
        var parsed: [JobDefinition] = []
        for query in BuiltInQuery.all {
            catalog.collect({ () throws(JobDefinitionError) in
                try SQLJobFile.parse(query.text, file: "queries/\(query.file)", defaultName: stem(query.file))
            }, into: &parsed)
        }
        if let userDirectory {
            switch userFiles(userDirectory) {
            case .success(let files):
                for file in files {
                    let path = userDirectory + "/" + file
                    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                        catalog.problems.append(JobDefinitionError(file: path, line: 1, "cannot read the file as UTF-8 text"))
                        continue
                    }
                    catalog.collect({ () throws(JobDefinitionError) in
                        try SQLJobFile.parse(text, file: path, defaultName: stem(file))
                    }, into: &parsed)
                }
            case .failure(let problem):
                catalog.problems.append(problem)
            }
        }
        for job in swiftJobs {
            parsed.append(JobDefinition(name: job.name, schedule: job.schedule, source: "built-in", work: .swift(job)))
        }

        // Swift jobs may share an output (the evaluation jobs each write their own sources'
        // rows of `evaluations`); a SQL job replaces whole ranges, so its output is its own.
        var names = Set<String>(), outputs: [String: (owner: String, kind: String)] = [:]
        var unique: [JobDefinition] = []
        for job in parsed {
            if names.contains(job.name) {
                catalog.problems.append(JobDefinitionError(file: job.source, line: 1, "a job named '\(job.name)' exists already"))
                continue
            }
            if let output = job.outputTable?.lowercased(), let writer = outputs[output], writer.kind == "sql" || job.kind == "sql" {
                catalog.problems.append(JobDefinitionError(file: job.source, line: 1, "the output '\(output)' is written by the job '\(writer.owner)' already"))
                continue
            }
            names.insert(job.name)
            if let output = job.outputTable?.lowercased(), outputs[output] == nil { outputs[output] = (job.name, job.kind) }
            unique.append(job)
        }
        if let engine {
            var checked: [JobDefinition] = []
            for job in unique {
                if case .sql(let sql) = job.work, let problem = await check(sql, of: job, engine: engine) {
                    catalog.problems.append(problem)
                } else {
                    checked.append(job)
                }
            }
            unique = checked
        }
        catalog.jobs = catalog.ordered(unique)
        return catalog
    }

    private mutating func collect(_ parse: () throws(JobDefinitionError) -> JobDefinition, into jobs: inout [JobDefinition]) {
        do {
            jobs.append(try parse())
        } catch {
            problems.append(error)
        }
    }

    /// Jobs reading another job's output come after it; jobs whose source is missing or in
    /// a cycle are left out with a problem.
    private mutating func ordered(_ jobs: [JobDefinition]) -> [JobDefinition] {
        var placed: [JobDefinition] = [], placedNames = Set<String>()
        var waiting = jobs
        while !waiting.isEmpty {
            let before = waiting.count
            waiting.removeAll { job in
                if case .sql(let sql) = job.work, !placedNames.isSuperset(of: sql.input.sourceJobs) { return false }
                placed.append(job)
                placedNames.insert(job.name)
                return true
            }
            if waiting.count == before {
                for job in waiting {
                    guard case .sql(let sql) = job.work else { continue }
                    for source in sql.input.sourceJobs where !placedNames.contains(source) {
                        let reason = jobs.contains { $0.name == source } ? "is in a cycle of sources" : "is not a job"
                        problems.append(JobDefinitionError(file: job.source, line: 1, "the source '\(source)' \(reason)"))
                    }
                }
                break
            }
        }
        return placed
    }

    /// SQLite's verdict on a statement, with the window parameters bound.
    static func check(_ job: SQLJob, of definition: JobDefinition, engine: SQLEngine) async -> JobDefinitionError? {
        let prefix = "EXPLAIN "
        let parameters: [String: SQLValue] = ["window_start_ns": .integer(0), "window_end_ns": .integer(0), "window_ns": .integer(job.window)]
        do {
            _ = try await engine.run(prefix + job.statement, parameters: .named(parameters), limits: SQLLimits(timeout: .seconds(10), maxRows: .max))
            return nil
        } catch {
            var line = job.statementLine
            if let offset = error.offset, offset >= prefix.utf8.count {
                line += job.statement.utf8.prefix(offset - prefix.utf8.count).count { $0 == UInt8(ascii: "\n") }
            }
            return JobDefinitionError(file: definition.source, line: line, error.message)
        }
    }

    static func userFiles(_ directory: String) -> Result<[String], JobDefinitionError> {
        do {
            return .success(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted())
        } catch {
            return .failure(JobDefinitionError(file: directory, line: 0, "cannot list the queries directory: \(error.localizedDescription)"))
        }
    }

    static func stem(_ file: String) -> String {
        String(file.dropLast(file.hasSuffix(".sql") ? 4 : 0))
    }
}
