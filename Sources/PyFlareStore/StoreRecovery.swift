import CoreMetrics
import Logging
import NIOPosix
import PyFlareModel
import PyFlareWire

/// Start-up recovery: brings the index, the segment files and the WAL back into agreement.
///
/// 1. Leftover temporary segment files (a seal cut short before its rename) are deleted.
/// 1b. Segment files a compaction replaced and a crash left on disk (listed in
///    `segment_deletions`) are deleted; so is a compaction's output the index does not
///    know (its commit never happened, so the segments it merged are still indexed).
/// 2. An indexed segment whose file is gone is marked `missing` (unless it is in the bucket,
///    whose local copy a crash may have left: that copy is deleted); one whose footer no
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
    let remote: RemoteSegments?

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

        // Files a compaction replaced (the index no longer names them) whose deletion a crash cut short.
        let replaced = try await index.pendingDeletions()
        if !replaced.isEmpty {
            try await SegmentCompactor(dataDirectory: configuration.dataDirectory, index: index, pricing: pricing, readers: SegmentReaderCache(logger: logger, remote: remote),
                                       blockRows: configuration.blockRows, logger: logger).purgeDeletions(grace: .zero, now: .max)
            actions.append("deleted replaced segments \(replaced.map(\.path).joined(separator: ", "))")
        }

        let rows = try await index.segments()
        var states = rows.map(\.state)
        for (position, row) in rows.enumerated() {
            let path = configuration.dataDirectory + "/" + row.path
            let exists = StoreDirectory.exists(path)
            if row.remoteKey != nil {
                // In the bucket: a local file left is one whose removal a crash cut short.
                if exists {
                    try StoreDirectory.remove(path)
                    actions.append("deleted the local copy of remote \(row.path)")
                }
                continue
            }
            switch (row.state, exists) {
            case (.active, false):
                try await index.setState(.missing, segment: row.id)
                states[position] = .missing
                logger.error("segment file is missing; its spans cannot be read", metadata: ["path": "\(row.path)"])
                actions.append("marked missing \(row.path)")
            case (.missing, true):
                try await index.setState(.active, segment: row.id)
                states[position] = .active
                actions.append("found again \(row.path)")
            case (.active, true):
                do {
                    _ = try await threadPool.runIfActive { try SegmentReader(path: path) }
                } catch let error as StoreError where error.code == .corrupt {
                    try quarantine(row.path, reason: "\(error)")
                    try await index.setState(.quarantined, segment: row.id)
                    states[position] = .quarantined
                    actions.append("quarantined \(row.path)")
                }
            default:
                break
            }
        }

        // Reported until an operator deals with them: restored files become active again at the next start.
        for state in [SegmentState.missing, .quarantined] {
            Gauge(label: "pyflare_segments", dimensions: [("state", state.rawValue)]).record(states.filter { $0 == state }.count)
        }

        let sealedBefore = try await index.sealedSequence()
        let wal = try await threadPool.runIfActive { [configuration] in
            try WriteAheadLog<WALEntry>.recover(directory: configuration.walDirectory, after: sealedBefore)
        }
        for (path, dropped) in wal.truncated {
            logger.warning("cut off a torn WAL tail", metadata: ["path": "\(path)", "dropped_bytes": "\(dropped)"])
            actions.append("cut \(dropped) bytes off \(path)")
        }
        var replayed: [Unsealed.Entry] = []
        for record in wal.records {
            do {
                replayed.append(Unsealed.Entry(sequence: record.sequence, item: try WALPayload.decode(record.payload, pricing: pricing)))
            } catch {
                // The checksum held, so this is a format this build cannot read (or a bug), not a
                // torn write: starting would seal past acknowledged records, so refuse instead.
                throw StoreError(.unsupportedVersion,
                                 "WAL record \(record.sequence) passes its checksum but does not decode (\(error)); "
                                 + "start the build that wrote it to seal the WAL, or move the wal/ directory aside",
                                 path: configuration.walDirectory)
            }
        }

        let sealed = try await adoptUnindexedSegments(index: index, indexed: Set(rows.map(\.path)), sealed: sealedBefore,
                                                      replayed: replayed, actions: &actions)
        let entries = replayed.filter { $0.sequence > sealed }
        if !entries.isEmpty {
            actions.append("replayed \(entries.count) WAL records (\(WALEntry.describeCounts(entries.map(\.item))))")
        }

        logger.info("store opened", metadata: [
            "data_dir": "\(configuration.dataDirectory)", "segments": "\(rows.count)", "sealed_wal_sequence": "\(sealed)",
            "recovery": "\(actions.isEmpty ? "clean" : actions.joined(separator: "; "))",
        ])
        return (index, entries, max(sealed, wal.highestSequence) + 1)
    }

    /// Indexes the segment files the index does not know: seals cut short between their
    /// renames and their index commit. A seal writes one file per kind (spans, logs, metric
    /// points), all with the seal's WAL range, and commits them together; its files are
    /// adopted together, and only when every kind its WAL records hold has its file —
    /// otherwise they are deleted and the records (still in the WAL, which is reclaimed only
    /// after a commit) are sealed again. Returns the new sealed WAL position.
    private func adoptUnindexedSegments(index: IndexDatabase, indexed: Set<String>, sealed sealedBefore: UInt64,
                                        replayed: [Unsealed.Entry], actions: inout [String]) async throws -> UInt64 {
        var groups: [ClosedRange<UInt64>: [(path: String, segment: BuiltSegment)]] = [:]
        for name in StoreDirectory.names(configuration.segmentDirectory) where name.hasSuffix(".seg") {
            let relativePath = "segments/" + name
            guard !indexed.contains(relativePath) else { continue }
            if SegmentNaming.isCompactionOutput(name) {
                // A compaction that never committed: the segments it merged are still indexed.
                try StoreDirectory.remove(configuration.segmentDirectory + "/" + name)
                actions.append("deleted unfinished compaction output \(relativePath)")
                continue
            }
            let path = configuration.dataDirectory + "/" + relativePath
            do {
                let adopted = try await threadPool.runIfActive { [pricing] in try Self.rebuild(path: path, pricing: pricing) }
                let footer = adopted.footer
                groups[footer.firstWALSequence...footer.lastWALSequence, default: []].append((relativePath, adopted))
            } catch let error as StoreError where error.code == .corrupt {
                try quarantine(relativePath, reason: "\(error)")
                actions.append("quarantined unindexed \(relativePath)")
            }
        }
        var sealed = sealedBefore
        // Of two seals starting at the same record, the wider one is the later, complete one.
        let ordered = groups.sorted { ($0.key.lowerBound, $1.key.upperBound) < ($1.key.lowerBound, $0.key.upperBound) }
        for (range, files) in ordered {
            // Seals cover contiguous WAL ranges, so any overlap with what is sealed is a duplicate;
            // records of it not sealed elsewhere are still in the WAL and get replayed.
            if range.upperBound != 0, range.lowerBound <= sealed {
                for file in files {
                    try quarantine(file.path, reason: "its WAL records \(range.lowerBound)...\(range.upperBound) are already in indexed segments")
                    actions.append("quarantined duplicate \(file.path)")
                }
                continue
            }
            let expected = Set(replayed.filter { range.contains($0.sequence) }.map(\.item.segmentKind))
            let present = Set(files.map(\.segment.kind))
            if range.upperBound != 0, !expected.isSubset(of: present) {
                for file in files {
                    try StoreDirectory.remove(configuration.dataDirectory + "/" + file.path)
                    actions.append("deleted \(file.path), part of an unfinished seal (its records are replayed)")
                }
                continue
            }
            var recorded: [(path: String, segment: BuiltSegment, bytesOnDisk: Int)] = []
            for file in files {
                let size = try await threadPool.runIfActive { [configuration] in try StoreFile(path: configuration.dataDirectory + "/" + file.path).size }
                recorded.append((file.path, file.segment, size))
            }
            try await index.recordSegments(recorded)
            sealed = max(sealed, range.upperBound)
            for file in files { actions.append("indexed \(file.path) (\(file.segment.footer.rows) \(file.segment.kind.name))") }
        }
        return sealed
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
        var traceBlocks = TraceBlocks()
        var built = BuiltSegment(kind: reader.kind, bytes: [], footer: reader.footer, traceBlocks: [], summaries: [])
        switch reader.kind {
        case .spans:
            let batches = try reader.verify(pricing: pricing)
            for (block, batch) in batches.enumerated() {
                for traceID in batch.spans.traceIDs { traceBlocks.add(traceID, block: block) }
            }
            built.summaries = TraceSummary.summarize(batches)
        case .logs:
            for block in reader.footer.blocks.indices {
                for traceID in try reader.logBatch(block: block).traceIDs where traceID != .zero { traceBlocks.add(traceID, block: block) }
            }
        case .metricPoints:
            var batches: [MetricBatch] = []
            for block in reader.footer.blocks.indices {
                let batch = try reader.metricBatch(block: block)
                for traceID in batch.exemplarTable.traceIDs where traceID != .zero { traceBlocks.add(traceID, block: block) }
                batches.append(batch)
            }
            built.metricNames = MetricNameSummary.summarize(batches)
        }
        built.traceBlocks = traceBlocks.sorted
        return built
    }
}
