import CoreMetrics
import Synchronization

/// Blocks of segment files found corrupt (a checksum mismatch, a chunk that does not
/// decompress or decode) while the server runs. A fenced block is moved past by every later
/// SQL scan, job and trace read instead of failing them again; each reader reports what it
/// skipped, and `/metrics` counts the fenced blocks. The fence lives in memory: after a
/// restart the first read of a bad block finds it again, since its checksum still fails.
package final class BlockFence: Sendable {
    /// A whole segment is fenced when its footer cannot be read.
    package static let wholeSegment = -1

    private let fenced = Mutex<[String: [Int: String]]>([:])
    private let fencedTotal = Counter(label: "pyflare_blocks_fenced_total")
    private let fencedNow = Gauge(label: "pyflare_fenced_blocks")

    /// Fences block `block` of the segment at `path` (``wholeSegment`` for the file) because of
    /// `error`; returns the text to report, which names the segment by its file name only.
    @discardableResult
    package func fence(path: String, block: Int, because error: any Error) -> String {
        let reason = (error as? StoreError)?.message ?? "\(error)"
        let (isNew, count) = fenced.withLock { fenced in
            let isNew = fenced[path, default: [:]].updateValue(reason, forKey: block) == nil
            return (isNew, fenced.values.reduce(0) { $0 + $1.count })
        }
        if isNew {
            fencedTotal.increment()
            fencedNow.record(count)
        }
        return Self.report(path: path, block: block, reason: reason)
    }

    /// What a reader says of a block it skipped because it is fenced; nil when it is not.
    package func fencedReport(path: String, block: Int) -> String? {
        let reason = fenced.withLock { fenced -> String? in
            guard let blocks = fenced[path] else { return nil }
            return blocks[Self.wholeSegment] ?? blocks[block]
        }
        return reason.map { Self.report(path: path, block: block, reason: $0) }
    }

    /// Whether any block of the segment at `path` is fenced: compaction leaves such a segment as it is.
    func hasFencedBlocks(_ path: String) -> Bool {
        fenced.withLock { !($0[path]?.isEmpty ?? true) }
    }

    /// Forgets the blocks of files that were deleted.
    func forget(_ paths: [String]) {
        let count = fenced.withLock { fenced in
            for path in paths { fenced[path] = nil }
            return fenced.values.reduce(0) { $0 + $1.count }
        }
        fencedNow.record(count)
    }

    private static func report(path: String, block: Int, reason: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        let place = block == wholeSegment ? "segment \(file)" : "block \(block) of segment \(file)"
        return "\(place) is unreadable and was skipped (\(reason))"
    }
}
