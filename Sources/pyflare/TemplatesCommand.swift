import ArgumentParser
import Foundation
import PyFlareAnalytics
import PyFlareWire

/// `pyflare templates`: groups the lines of a file (or standard input) by message template, as
/// failure clustering does, and prints each line's template id, or the templates with their
/// sizes. For trying the grouping on one's own logs and for measuring it (scripts/bench_templates.py).
struct Templates: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Group lines by message template.")

    @Argument(help: "A file of messages, one per line (default: standard input).")
    var file: String?
    @Option(help: "The share of a template's words a message must match to join it.")
    var similarity = 0.6
    @Flag(help: "Print one template id per input line instead of the templates.")
    var ids = false
    @Flag(help: "With --ids, follow each id with a tab and its template (as it is after the last line).")
    var text = false

    func validate() throws {
        guard similarity > 0, similarity <= 1 else { throw ValidationError("--similarity must be in (0, 1]") }
        guard ids || !text else { throw ValidationError("--text goes with --ids") }
    }

    func run() throws {
        let data = try file.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? FileHandle.standardInput.readDataToEndOfFile()
        var miner = MessageTemplateMiner(similarity: similarity)
        let started = ContinuousClock.now
        var assigned: [Int] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            assigned.append(miner.add(String(line)))
        }
        if assigned.last != nil, data.last == UInt8(ascii: "\n") { assigned.removeLast() }  // the final newline ends the last line
        let elapsed = ContinuousClock.now - started
        var out = ""
        if ids {
            for id in assigned {
                let template = miner.current(id)
                out += text ? "\(template)\t\(miner.text(of: template))\n" : "\(template)\n"
            }
        } else {
            for template in miner.templates where template.size > 0 {
                out += "\(template.id)\t\(template.size)\t\(miner.text(of: template.id))\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        let seconds = elapsed.inSeconds
        FileHandle.standardError.write(Data(
            "\(assigned.count) lines, \(miner.templates.filter { $0.size > 0 }.count) templates, \(Int(Double(assigned.count) / max(seconds, 1e-9))) lines/s\n".utf8))
    }
}
