import Foundation
import Logging
import PyFlareAccess
import PyFlareAPI
import PyFlareIngest
import PyFlareStore
import ServiceLifecycle
import Synchronization

/// The open projects: routes each request to its project's export or router once the
/// `Gatekeeper` has named the project, opens projects created through the API or
/// `pyflare projects`, and closes and deletes them.
///
/// Runs every project's services as children, so they stop after the listeners (the outer
/// service group stops this service last), each project's in its own order.
final class ProjectHost: Service, ExportDirectory, ProjectAdministration {
    let gatekeeper: Gatekeeper
    let metrics: IngestMetrics
    let dataDirectory: String
    let logger: Logger
    private let open: @Sendable (String) async throws -> ProjectRuntime
    private let runtimes = Mutex<[String: ProjectRuntime]>([:])
    /// Projects being opened or deleted: a second opening waits for the first, a deletion meanwhile is refused.
    private let busy = Mutex<Set<String>>([])
    private let started: AsyncStream<ProjectRuntime>
    private let start: AsyncStream<ProjectRuntime>.Continuation

    var book: KeyBook { gatekeeper.book }

    init(gatekeeper: Gatekeeper, metrics: IngestMetrics, dataDirectory: String, logger: Logger,
         open: @escaping @Sendable (String) async throws -> ProjectRuntime) {
        self.gatekeeper = gatekeeper
        self.metrics = metrics
        self.dataDirectory = dataDirectory
        self.logger = logger
        self.open = open
        (started, start) = AsyncStream.makeStream(of: ProjectRuntime.self)
    }

    /// Opens every project of the catalog (at start-up, before the listeners).
    func openAll() async throws {
        for name in book.projects { try await openProject(name) }
    }

    /// Opens `name` unless it is open; when another caller is opening it, waits for that one.
    private func openProject(_ name: String) async throws {
        while !busy.withLock({ $0.insert(name).inserted }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        defer { _ = busy.withLock { $0.remove(name) } }
        // Deleted meanwhile (the deletion refreshed the book): nothing to open.
        guard book.hasProject(name), runtimes.withLock({ $0[name] == nil }) else { return }
        let runtime = try await open(name)
        runtimes.withLock { $0[name] = runtime }
        start.yield(runtime)
    }

    var all: [ProjectRuntime] { runtimes.withLock { Array($0.values) } }

    /// Bytes the open projects' next seals will write: what the disk guard counts as already taken.
    var unsealedBytes: Int {
        all.reduce(0) { $0 + ($1.store?.unsealedBytes ?? 0) }
    }

    func runtime(_ name: String) -> ProjectRuntime? {
        runtimes.withLock { $0[name] }
    }

    // MARK: ExportDirectory

    func export(for request: AccessRequest) -> Result<OTLPExport, AccessDenial> {
        gatekeeper.decide(request, requires: .ingest).flatMap { grant in
            guard let runtime = runtime(grant.project) else { return .failure(AccessDenial(.unknownProject, "the project is not open")) }
            return .success(runtime.export)
        }
    }

    // MARK: ProjectAdministration

    func createProject(_ name: String) async throws(AccessError) -> AccessCatalog.Project {
        let project = try book.catalog.createProject(name)
        try book.refresh()
        do {
            try await openProject(name)
        } catch {
            logger.error("cannot open a new project", metadata: ["project": "\(name)", "error": "\(error)"])
            try? book.catalog.deleteProject(name)
            _ = try? book.refresh()
            throw AccessError(.database, "cannot open the project's store")
        }
        return project
    }

    func deleteProject(_ name: String) async throws(AccessError) {
        guard busy.withLock({ $0.insert(name).inserted }) else { throw AccessError(.conflict, "project \(name) is being opened or deleted") }
        defer { _ = busy.withLock { $0.remove(name) } }
        // The catalog first: from here on its keys are refused and its requests find no project.
        try book.catalog.deleteProject(name)
        try book.refresh()
        if let runtime = runtimes.withLock({ $0.removeValue(forKey: name) }) { await runtime.stop() }
        do {
            try FileManager.default.removeItem(atPath: ProjectRuntime.directory(of: name, under: dataDirectory))
        } catch {
            logger.error("cannot remove a deleted project's data", metadata: ["project": "\(name)", "error": "\(error)"])
            throw AccessError(.database, "the project is deleted but its data could not all be removed; the server log says why")
        }
        logger.info("project deleted", metadata: ["project": "\(name)"])
    }

    /// Tells every project's batcher that shutdown has begun.
    func beginDraining() {
        for runtime in all { runtime.batcher.beginDraining() }
    }

    // MARK: Service

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in await cancelWhenGracefulShutdown { await self.followCatalog() } }
            await withGracefulShutdownHandler {
                for await runtime in started {
                    group.addTask { await runtime.run() }
                }
            } onGracefulShutdown: { [start] in
                start.finish()
            }
        }
    }

    /// Every second: reads `access.db` again (keys made or revoked by `pyflare keys`, projects
    /// by `pyflare projects`), opens new projects, and writes when keys were last used.
    private func followCatalog() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            do {
                try book.flushUse()
                let names = try book.refresh()
                for name in names where runtime(name) == nil {
                    do { try await openProject(name) } catch {
                        logger.error("cannot open a project", metadata: ["project": "\(name)", "error": "\(error)"])
                    }
                }
            } catch {
                logger.warning("cannot read the access catalog", metadata: ["error": "\(error)"])
            }
        }
    }
}
