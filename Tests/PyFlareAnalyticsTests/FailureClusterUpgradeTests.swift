import Foundation
import GRDB
import PyFlareStore
import PyFlareTesting
import Testing
@testable import PyFlareAnalytics

/// A server upgraded to a new template miner goes on with the clusters the old one stored:
/// same ids, old clusters the new rules join merged (members too), and the upgrade done once.
struct FailureClusterUpgradeTests {
    /// What the first miner left: `RuntimeError: <*> the <*> main loop` holding Starting and Ending failures,
    /// a layer family split in two by a value without digits, and a worker family.
    static func oldIndex(_ directory: TemporaryDirectory) throws -> DatabasePool {
        let pool = try SpanStore.openIndex(dataDirectory: directory.path)
        try pool.write { db in
            for (id, words) in [(0, [nil, "the", nil, "main", "loop"]), (1, ["Layer", "update", nil, nil]),
                                (2, ["Layer", "update", "vis=ffffff", "mask=ffff"]), (3, ["worker", nil, "failed"])] as [(Int, [String?])] {
                try db.execute(sql: "INSERT INTO failure_templates (id, words, merged_into, created_ns) VALUES (?, ?, NULL, 1)",
                               arguments: [id, FailureTemplateText.stored(["RuntimeError:"] + words)])
            }
            var time: Int64 = 1_000
            for (cluster, message, count) in [(0, "Starting the scheduler main loop", 3), (0, "Ending the scheduler main loop", 2),
                                              (1, "Layer update vis=1a2b3c mask=ff00", 4), (2, "Layer update vis=ffffff mask=ffff", 5),
                                              (3, "worker alpha failed", 1)] {
                for _ in 0..<count {
                    time += 1
                    try db.execute(sql: """
                        INSERT INTO failure_cluster_members (time_ns, cluster_id, source, service, error_type, message)
                        VALUES (?, ?, 'log', 'api', 'RuntimeError', ?)
                        """, arguments: [time, cluster, message])
                }
            }
        }
        return pool
    }

    static func restore(_ pool: DatabasePool) async throws -> MessageTemplateMiner {
        try await FailureClusterJob.restoredMiner(similarity: 0.6, crossLengthSimilarity: 0.8, pool, now: 2_000)
    }

    @Test func anUpgradeMapsOldClustersToTheNewMinersTemplates() async throws {
        let directory = try TemporaryDirectory()
        let pool = try Self.oldIndex(directory)
        var miner = try await Self.restore(pool)

        let (templates, members, version) = try pool.read { db in
            (try Row.fetchAll(db, sql: "SELECT id, words, merged_into FROM failure_templates ORDER BY id"),
             try Row.fetchAll(db, sql: "SELECT cluster_id, count(*) FROM failure_cluster_members GROUP BY 1 ORDER BY 1"),
             try Int.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = ?", arguments: [FailureClusterJob.minerVersionKey]))
        }
        #expect(version == MessageTemplateMiner.version)
        #expect(templates.map { $0["id"] as Int } == [0, 1, 2, 3])
        // The old cluster goes on as its most frequent failure's template.
        #expect(FailureTemplateText.words(templates[0]["words"]) == ["RuntimeError:", "Starting", "the", "scheduler", "main", "loop"])
        #expect(templates.map { $0["merged_into"] as Int? } == [nil, nil, 1, nil])
        #expect(members.map { [$0[0] as Int, $0[1] as Int] } == [[0, 5], [1, 9], [3, 1]])

        // New failures of known kinds join their old clusters; a kind the old rules hid in
        // another cluster gets its own.
        #expect(miner.add("RuntimeError: Starting the indexer main loop") == 0)
        #expect(miner.current(miner.add("RuntimeError: Layer update vis=abcdef mask=cb")) == 1)
        #expect(miner.add("RuntimeError: worker beta failed") == 3)
        #expect(miner.add("RuntimeError: Ending the indexer main loop") == 4)

        // Done once: the next run restores what the upgrade saved.
        try await pool.write { [miner] db in try FailureClusterJob.saveTemplates(miner, now: 3_000, db) }
        var again = try await Self.restore(pool)
        #expect(again.exported() == miner.exported())
        #expect(again.add("RuntimeError: Ending the janitor main loop") == 4)
    }

    /// Templates this miner saved are taken back as they are, whatever their members say.
    @Test func templatesOfTheCurrentMinerAreNotRebuilt() async throws {
        let directory = try TemporaryDirectory()
        let pool = try Self.oldIndex(directory)
        try await pool.write { db in try FailureClusterJob.saveMinerVersion(db) }
        let miner = try await Self.restore(pool)
        #expect(miner.text(of: 0) == "RuntimeError: <*> the <*> main loop")
        #expect(miner.current(2) == 2)
        let merged = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM failure_templates WHERE merged_into IS NOT NULL") }
        #expect(merged == 0)
    }
}
