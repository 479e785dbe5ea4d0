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
        #expect(miner.text(of: final["timeout"]!.first!) == "Request to <*> timed out after <*> ms")
        #expect(miner.text(of: final["file"]!.first!) == "Could not open <*> No such file or directory")
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

    @Test(arguments: [
        ("42", true), ("0x1f", true), ("10.0.0.1", true), ("blk_-123", true), ("/usr/lib", true), ("()", true),
        ("''", true), ("Fri", true), ("Jun,", true), ("error", false), ("/", false), ("timeout:", false), ("Monday", false),
    ])
    func variableParts(token: String, variable: Bool) {
        #expect(MessageTemplateMiner.isVariable(Substring(token)) == variable)
    }
}
