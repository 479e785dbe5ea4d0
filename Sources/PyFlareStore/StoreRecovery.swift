import CoreMetrics
import Logging
import NIOPosix
import PyFlareModel
import PyFlareWire

/// Start-up recovery: brings the index, the segment files and the WAL back into agreement.
///
/// 1. Leftover temporary segment files (a seal cut short before its rename) are deleted.
/// 2. An indexed segment whose file is gone is marked `missing`; one whose footer no
///    longer verifies is moved to `quarantine/` and marked `quarantined`. A segment of a
///    format version this build does not read stops start-up (nothing is moved), and so
///    does an I/O error: neither says the file is bad.
/// 3. A segment file the index does not know (a crash between rename and commit) is
///    verified block by block and indexed, which also advances the sealed WAL position,
///    so its records are not replayed twice; a corrupt one is quarantined.
/// 4. WAL records after the sealed position are replayed into memory; a torn tail is cut
///    off at the last record whose checksum holds.
struct StoreRecovery {
    let configuration: SpanStoreConfiguration
    let pricing: PricingTable
    let logger: Logger
    let threadPool: NIOThreadPool

    func run() async throws -> (IndexDatabase, [Unsealed.Entry], UInt64) {
        for directory in [configuration.walDirectory, configuration.segmentDirectory, configuration.quarantineDirectory] {
            try StoreDirectory.create(directory)
        }
        let index = try IndexDatabase(path: configuration.indexPath)
        var actions: [String] = []

        for name in StoreDirectory.names(configuration.segmentDirectory) where name.hasPrefix(SegmentNaming.temporaryPrefix) {
            try StoreDirectory.remove(configuration.segmentDirectory + "/" + name)
            actions.append("deleted unfinished segment \(name)")
        }

        let rows = try await index.segments()
        var states = rows.map(\.state)
        for (position, row) in rows.enumerated() {
            let path = configuration.dataDirectory + "/" + row.path
            let exists = StoreDirectory.exists(path)
            switch (row.state, exists) {
            case ("active", false):
                try await index.setState("missing", segment: row.id)
                states[position] = "missing"
                logger.error("segment file is missing; its spans cannot be read", metadata: ["path": "\(row.path)"])
                actions.append("marked missing \(row.path)")
            case ("missing", true):
                try await index.setState("active", segment: row.id)
                states[position] = "active"
                actions.append("found again \(row.path)")
            case ("active", true):
                do {
                    _ = try await threadPool.runIfActive { try SegmentReader(path: path) }
                } catch let error as StoreError where error.code == .corrupt {
                    try quarantine(row.path, reason: "\(error)")
                    try await index.setState("quarantined", segment: row.id)
                    states[position] = "quarantined"
                    actions.append("quarantined \(row.path)")
                }
            default:
                break
            }
        }

        // Reported until an operator deals with them: restored files become active again at the next start.
        for state in ["missing", "quarantined"] {
            Gauge(label: "pyflare_segments", dimensions: [("state", state)]).record(states.filter { $0 == state }.count)
        }

        var sealed = try await index.sealedSequence()
        let indexed = Set(rows.map(\.path))
        for name in StoreDirectory.names(configuration.segmentDirectory) where name.hasSuffix(".seg") {
            let relativePath = "segments/" + name
            guard !indexed.contains(relativePath) else { continue }
            let path = configuration.dataDirectory + "/" + relativePath
            let adopted: BuiltSegment
            do {
                adopted = try await threadPool.runIfActive { [pricing] in try Self.rebuild(path: path, pricing: pricing) }
            } catch let error as StoreError where error.code == .corrupt {
                try quarantine(relativePath, reason: "\(error)")
                actions.append("quarantined unindexed \(relativePath)")
                continue
            }
            let footer = adopted.footer
            // Seals cover contiguous WAL ranges, so any overlap with what is sealed is a duplicate;
            // records of it not sealed elsewhere are still in the WAL and get replayed.
            if footer.lastWALSequence != 0, footer.firstWALSequence <= sealed {
                try quarantine(relativePath, reason: "its WAL records \(footer.firstWALSequence)...\(footer.lastWALSequence) are already in indexed segments")
                actions.append("quarantined duplicate \(relativePath)")
                continue
            }
            let size = try await threadPool.runIfActive { try StoreFile(path: path).size }
            _ = try await index.recordSegment(path: relativePath, segment: adopted, bytesOnDisk: size)
            sealed = max(sealed, footer.lastWALSequence)
            actions.append("indexed \(relativePath) (\(footer.rows) spans)")
        }

        let wal = try await threadPool.runIfActive { [configuration, sealed] in
            try WriteAheadLog<[NormalizedBatch]>.recover(directory: configuration.walDirectory, after: sealed)
        }
        for (path, dropped) in wal.truncated {
            logger.warning("cut off a torn WAL tail", metadata: ["path": "\(path)", "dropped_bytes": "\(dropped)"])
            actions.append("cut \(dropped) bytes off \(path)")
        }
        var entries: [Unsealed.Entry] = []
        var spans = 0
        for record in wal.records {
            do {
                let batch = try WALPayload.decode(record.payload, pricing: pricing)
                entries.append(Unsealed.Entry(sequence: record.sequence, batches: [batch], bytes: Unsealed.footprint([batch])))
                spans += batch.count
            } catch {
                // The checksum held, so this is a format this build cannot read (or a bug), not a
                // torn write: starting would seal past acknowledged spans, so refuse instead.
                throw StoreError(.unsupportedVersion,
                                 "WAL record \(record.sequence) passes its checksum but does not decode (\(error)); "
                                 + "start the build that wrote it to seal the WAL, or move the wal/ directory aside",
                                 path: configuration.walDirectory)
            }
        }
        if !wal.records.isEmpty { actions.append("replayed \(wal.records.count) WAL records (\(spans) spans)") }

        logger.info("store opened", metadata: [
            "data_dir": "\(configuration.dataDirectory)", "segments": "\(rows.count)", "sealed_wal_sequence": "\(sealed)",
            "recovery": "\(actions.isEmpty ? "clean" : actions.joined(separator: "; "))",
        ])
        return (index, entries, max(sealed, wal.highestSequence) + 1)
    }

    /// Moves a segment out of the way, keeping it for inspection.
    private func quarantine(_ relativePath: String, reason: String) throws {
        let name = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
        try StoreDirectory.rename(configuration.dataDirectory + "/" + relativePath, to: configuration.quarantineDirectory + "/" + name)
        logger.error("quarantined a segment", metadata: ["path": "\(relativePath)", "reason": "\(reason)"])
    }

    /// Reads every block of a segment (verifying every checksum) and derives its index rows.
    static func rebuild(path: String, pricing: PricingTable) throws(StoreError) -> BuiltSegment {
        let reader = try SegmentReader(path: path)
        let batches = try reader.verify(pricing: pricing)
        var traceBlocks = TraceBlocks()
        for (block, batch) in batches.enumerated() {
            for traceID in batch.spans.traceIDs { traceBlocks.add(traceID, block: block) }
        }
        return BuiltSegment(kind: reader.kind, bytes: [], footer: reader.footer, traceBlocks: traceBlocks.sorted,
                            summaries: TraceSummary.summarize(batches))
    }
}
