import PyFlareTesting
import Testing
@testable import PyFlareAnalytics

/// Grouping messages by template: families with varying numbers, ids and hosts fall into one
/// template each; different families stay apart; ids stay stable as templates generalize.
@Suite struct MessageTemplateTests {
    @Test func familiesWithVaryingPartsGroupTogether() {
        var miner = MessageTemplateMiner()
        var ids: [String: Set<Int>] = [:]
        for i in 0..<50 {
            let families = [
                ("timeout", "Request to api-\(i % 7).example.com timed out after \(1000 + i) ms"),
                ("ratelimit", "Rate limit exceeded for model gpt-4o: retry after \(i) seconds (request req_\(i * 7919))"),
                ("file", "Could not open /var/data/run-\(i)/input.json: No such file or directory"),
                ("quota", "User \(["alice", "bob", "carol"][i % 3]) exceeded quota of \(i * 100) tokens"),
            ]
            for (family, message) in families { ids[family, default: []].insert(miner.current(miner.add(message))) }
        }
        let final = ids.mapValues { Set($0.map(miner.current)) }
        #expect(final.values.allSatisfy { $0.count == 1 })
        #expect(Set(final.values.map { $0.first! }).count == 4)
        #expect(miner.text(of: final["timeout"]!.first!) == "Request to api-<*>.example.com timed out after <*> ms")
        #expect(miner.text(of: final["file"]!.first!) == "Could not open <*>: No such file or directory")
        #expect(miner.templates.filter { $0.size > 0 }.map(\.size).sorted() == [50, 50, 50, 50])
    }

    @Test func differentMessagesOfOneLengthStayApart() {
        var miner = MessageTemplateMiner()
        let a = miner.add("connection refused by upstream server")
        let b = miner.add("permission denied for temporary file")
        #expect(miner.current(a) != miner.current(b))
    }

    @Test func idsStayStableWhenTemplatesGeneralize() {
        var miner = MessageTemplateMiner()
        let first = miner.add("worker alpha failed to start: missing config")
        let second = miner.add("worker beta failed to start: missing config")
        #expect(first == second)
        #expect(miner.text(of: first) == "worker <*> failed to start: missing config")
        #expect(miner.add("worker gamma failed to start: missing config") == first)
    }

    // MARK: - Synthetic families of the kinds that generalize badly

    /// Feeds every family's messages interleaved in a seeded random order; returns each
    /// family's templates (by current id) and the miner.
    static func mine(_ families: [String: (inout SeededGenerator) -> String], count: Int = 600,
                     seed: UInt64) -> ([String: Set<Int>], MessageTemplateMiner) {
        var random = SeededGenerator(seed: seed)
        var miner = MessageTemplateMiner()
        var assigned: [(String, Int)] = []
        let names = families.keys.sorted()
        for _ in 0..<count {
            let family = names.randomElement(using: &random)!
            assigned.append((family, miner.add(families[family]!(&random))))
        }
        var templates: [String: Set<Int>] = [:]
        for (family, id) in assigned { templates[family, default: []].insert(miner.current(id)) }
        return (templates, miner)
    }

    /// Each family is exactly one template, and no two families share one.
    static func expectOneTemplateEach(_ templates: [String: Set<Int>], families: Int, _ comment: Comment) {
        #expect(templates.count == families, comment)
        for (family, ids) in templates.sorted(by: { $0.key < $1.key }) { #expect(ids.count == 1, "\(family): \(ids.count) templates, \(comment)") }
        #expect(Set(templates.values.compactMap(\.first)).count == families, comment)
    }

    static func hex(_ length: Int, letters: Bool = false, _ random: inout SeededGenerator) -> String {
        String((0..<length).map { _ in (letters ? Array("abcdef") : Array("0123456789abcdef")).randomElement(using: &random)! })
    }

    static let components = ["scheduler", "indexer", "uploader", "janitor", "watchdog"]
    static let locks = ["wakelock", "cpu_boost", "net_lock", "display"]

    /// Short messages that differ in one constant word: the leading word keeps them apart
    /// however well the rest matches (`Starting`/`Ending` share 3 words of 5, 4 of 6 after an
    /// exception type).
    @Test(arguments: [1, 2, 3] as [UInt64])
    func constantWordSiblingsStayApart(seed: UInt64) {
        let families: [String: (inout SeededGenerator) -> String] = [
            "acquire": { "Acquiring \(Self.locks.randomElement(using: &$0)!)@\(Self.hex(6, letters: Bool.random(using: &$0), &$0))" },
            "release": { "Releasing \(Self.locks.randomElement(using: &$0)!)@\(Self.hex(6, letters: Bool.random(using: &$0), &$0))" },
            "start": { "Starting the \(Self.components.randomElement(using: &$0)!) main loop" },
            "end": { "Ending the \(Self.components.randomElement(using: &$0)!) main loop" },
            "jobs": { "listJobs: caller \(Int.random(in: 1000...99_999, using: &$0)) lacks the admin role; answering from cache" },
            "workers": { "listWorkers: caller \(Int.random(in: 1000...99_999, using: &$0)) lacks the admin role; answering from cache" },
            // As failure clustering writes an exception: its type first.
            "typed start": { "app.errors.LoopError: Starting the \(Self.components.randomElement(using: &$0)!) main loop" },
            "typed end": { "app.errors.LoopError: Ending the \(Self.components.randomElement(using: &$0)!) main loop" },
        ]
        let (templates, miner) = Self.mine(families, seed: seed)
        Self.expectOneTemplateEach(templates, families: families.count, "seed \(seed)")
        #expect(miner.text(of: templates["start"]!.first!) == "Starting the <*> main loop")
        #expect(miner.text(of: templates["acquire"]!.first!) == "Acquiring <*>@<*>")
    }

    /// A first word that names something (dotted, bracketed) varies like any variable: it does
    /// not split the family the way a plain leading word does.
    @Test func aLeadingIdentifierDoesNotSplitItsFamily() {
        let families: [String: (inout SeededGenerator) -> String] = [
            "finished": { "com.example.\(Self.components.randomElement(using: &$0)!): job finished in \(Int.random(in: 1...900, using: &$0)) ms" },
        ]
        let (templates, miner) = Self.mine(families, count: 100, seed: 4)
        Self.expectOneTemplateEach(templates, families: 1, "")
        #expect(miner.text(of: templates["finished"]!.first!) == "com.example.<*>: job finished in <*> ms")
    }

    /// Words that carry several variables: a `key=value` list without spaces (alphabetic values
    /// too) and bare hexadecimal values, digits or none (`ffff`, `cb`).
    @Test(arguments: [1, 2, 3] as [UInt64])
    func wordsOfManyVariablesKeepOneTemplate(seed: UInt64) {
        func settings(_ keys: [(String, [String])], _ random: inout SeededGenerator) -> String {
            keys.map { "\($0.0)=\($0.1.randomElement(using: &random)!)" }.joined(separator: ",")
        }
        let families: [String: (inout SeededGenerator) -> String] = [
            "apply": {
                "Applying settings \(settings([("retries", ["3", "5", "none"]), ("backoff", ["exp", "linear"]), ("mode", ["fast", "safe"])], &$0)) to \(Self.components.randomElement(using: &$0)!)"
            },
            "reject": {
                "Rejecting settings \(settings([("retries", ["3", "none"]), ("backoff", ["exp", "linear"])], &$0)) from \(Self.components.randomElement(using: &$0)!)"
            },
            "layer": {
                let visible = [Self.hex(6, &$0), Self.hex(6, letters: true, &$0), "ffffff"].randomElement(using: &$0)!
                let mask = [Self.hex(4, &$0), "ffff", Self.hex(2, letters: true, &$0), Self.hex(2, &$0)].randomElement(using: &$0)!
                return "Layer update vis=\(visible) mask=\(mask) z=\(Int.random(in: 0...9, using: &$0))"
            },
        ]
        let (templates, miner) = Self.mine(families, seed: seed)
        Self.expectOneTemplateEach(templates, families: families.count, "seed \(seed)")
        #expect(miner.text(of: templates["apply"]!.first!) == "Applying settings retries=<*>,backoff=<*>,mode=<*> to <*>")
        #expect(miner.text(of: templates["layer"]!.first!) == "Layer update vis=<*> mask=<*> z=<*>")
    }

    /// Ids joined to constants and to each other: one variable, whatever their parts.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func joinedIdentifiersAreOneVariable(seed: UInt64) {
        let families: [String: (inout SeededGenerator) -> String] = [
            "task": {
                let id = Bool.random(using: &$0) ? "\(Int.random(in: 1...99_999, using: &$0))_\(Int.random(in: 0...99, using: &$0))"
                                                 : "\(Int.random(in: 1...9, using: &$0))"
                return "Task task_\(id) finished on exec_\(Int.random(in: 1...64, using: &$0)) in \(Int.random(in: 5...900, using: &$0)) ms"
            },
            "chunk": { "Chunk \(Int.random(in: 1...999, using: &$0))_\(Int.random(in: 1...999, using: &$0)) stored under job_\(Int.random(in: 1...9999, using: &$0))_\(Int.random(in: 1...9, using: &$0))" },
            "chunk lost": { "Chunk \(Int.random(in: 1...999, using: &$0))_\(Int.random(in: 1...999, using: &$0)) lost under job_\(Int.random(in: 1...9999, using: &$0))" },
        ]
        let (templates, miner) = Self.mine(families, seed: seed)
        Self.expectOneTemplateEach(templates, families: families.count, "seed \(seed)")
        #expect(miner.text(of: templates["task"]!.first!) == "Task task_<*> finished on exec_<*> in <*> ms")
        #expect(miner.text(of: templates["chunk"]!.first!) == "Chunk <*> stored under job_<*>")
    }

    @Test(arguments: [
        ("42", true), ("0x1f", true), ("10.0.0.1", true), ("blk_-123", true), ("/usr/lib", true), ("()", true),
        ("''", true), ("Fri", true), ("Jun,", true), ("mask=ffff", true), ("retries=none,mode=fast", true), ("dacdee", true),
        ("error", false), ("/", false), ("timeout:", false), ("Monday", false), ("user=root", false), ("added", false),
    ])
    func variableParts(token: String, variable: Bool) {
        #expect(MessageTemplateMiner.isVariable(Substring(token)) == variable)
    }

    @Test(arguments: [
        ("getTasks:", true), ("RuntimeError:", true), ("openai.RateLimitError:", true), ("org.example.Worker$Task:", true),
        ("com.example.billing:", false), ("[instance:", false), ("RuntimeError", false), (":", false),
    ])
    func labels(token: String, label: Bool) {
        #expect(MessageTemplateMiner.isLabelWord(Substring(token)) == label)
    }

    @Test(arguments: [
        ("blk_-123", "blk_<*>"), ("10.0.0.1:8080", "<*>:<*>"), ("job_12_7", "job_<*>"), ("(0x0)", "(<*>)"),
        ("retries=3,mode=fast", "retries=<*>,mode=<*>"), ("vis=1a2b3c", "vis=<*>"), ("/var/log/app.log:", "<*>:"),
        ("550e8400-e29b-41d4-a716-446655440000", nil), ("2026-12-06", nil), ("12", nil),
    ] as [(String, String?)])
    func shapes(token: String, shape: String?) {
        #expect(MessageTemplateMiner.shape(of: Substring(token)).shape.map(String.init) == shape)
    }

    // MARK: - Upgrades

    /// Templates an older miner saved, rebuilt by this one from one message of each: ids stay,
    /// a family the old rules merged is split from its new sibling, two the old rules split are
    /// one again, and a template that had merged stays merged.
    @Test func rebuildingOldTemplatesKeepsTheirIds() {
        let saved = [
            MessageTemplateMiner.SavedTemplate(id: 0, words: [nil, "the", nil, "main", "loop"], mergedInto: nil),
            MessageTemplateMiner.SavedTemplate(id: 1, words: ["Layer", "update", nil, nil], mergedInto: nil),
            MessageTemplateMiner.SavedTemplate(id: 2, words: ["Layer", "update", "vis=ffffff", "mask=ffff"], mergedInto: nil),
            MessageTemplateMiner.SavedTemplate(id: 3, words: ["worker", nil, "failed"], mergedInto: nil),
            MessageTemplateMiner.SavedTemplate(id: 4, words: ["worker", "beta", "failed"], mergedInto: 3),
        ]
        var miner = MessageTemplateMiner.rebuilt(from: saved, examples: [
            0: "Starting the scheduler main loop", 1: "Layer update vis=1a2b3c mask=ff00", 2: "Layer update vis=ffffff mask=ffff",
            3: "worker alpha failed",
        ])
        #expect(miner.templates.count == 5)
        #expect(miner.current(2) == 1 && miner.current(4) == 3)
        #expect(miner.exported()[2].mergedInto == 1 && miner.exported()[2].words == saved[2].words)
        #expect(miner.add("Starting the indexer main loop") == 0)
        #expect(miner.text(of: 0) == "Starting the <*> main loop")
        #expect(miner.add("Ending the indexer main loop") == 5)
        #expect(miner.current(miner.add("Layer update vis=abcdef mask=cb")) == 1)
        #expect(miner.add("worker gamma failed") == 3)
        // What the rebuilt miner saves, restored, goes on the same way.
        var restored = MessageTemplateMiner(restoring: miner.exported())
        #expect(restored.add("Ending the janitor main loop") == 5)
        #expect(restored.add("Starting the janitor main loop") == 0)
    }
}
