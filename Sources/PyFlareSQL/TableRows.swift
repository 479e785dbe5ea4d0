import PyFlareModel
import PyFlareStore
import PyFlareWire

/// A kind's SQL table as an export sees it: its columns, and a block of a sealed segment read
/// as their values by the same code as `SELECT *`, so an export holds what SQL shows.
package enum TableRows {
    package enum ColumnType: Sendable {
        case integer, real, text
    }

    package struct Column: Sendable, Equatable {
        package var name: String
        package var type: ColumnType
    }

    /// The columns of `kind`'s table (`spans`, `logs`, `metric_points`), in schema order.
    package static func columns(of kind: SegmentKind) -> [Column] {
        let definitions = switch kind {
        case .spans: SpansSQLColumn.allCases.map(\.definition)
        case .logs: LogsSQL.columns
        case .metricPoints: MetricPointsSQL.columns
        }
        return definitions.map { definition in
            let parts = definition.split(separator: " ")
            let type: ColumnType = switch parts.last {
            case "INTEGER": .integer
            case "REAL": .real
            default: .text
            }
            return Column(name: String(parts[0]), type: type)
        }
    }

    /// One block's rows, decoded whole.
    package struct Block {
        // One of the three is set. Kept apart rather than in an enum: a value is written from
        // the batch in place (see `NormalizedBatch.writeSQLValue`), never from a copy of it.
        private var spans: NormalizedBatch?
        private var logs: (batch: LogBatch, services: [String?])?
        private var metrics: (batch: MetricBatch, services: [String?])?
        package let rows: Int

        fileprivate init(spans: NormalizedBatch? = nil, logs: LogBatch? = nil, metrics: MetricBatch? = nil, rows: Int) {
            self.spans = spans
            self.logs = logs.map { ($0, $0.resourceServiceNames()) }
            self.metrics = metrics.map { ($0, $0.resourceServiceNames()) }
            self.rows = rows
        }

        /// The time a row is filed and ranged by, as SQL's time bounds see it: a span's start,
        /// a log record's time (its observed time when it has none), a metric point's time.
        package func time(_ row: Int) -> Int64 {
            if spans != nil { return Int64(bitPattern: spans!.spans.startTimes[row]) }
            if let logs { return Int64(bitPattern: LogsSQL.time(logs.batch, row)) }
            if let metrics { return Int64(bitPattern: MetricPointsSQL.time(metrics.batch, row)) }
            return 0
        }

        /// Row `row`'s value of column `column` (an index of ``TableRows/columns(of:)``).
        package mutating func write<Sink: ColumnValueSink>(column: Int, row: Int, into sink: inout Sink) {
            if spans != nil {
                guard let column = SpansSQLColumn(rawValue: Int32(column)) else { return sink.null() }
                NormalizedBatch.writeSQLValue(column, of: &spans!, row: row, into: &sink)
            } else if let logs {
                LogsSQL.column(Int32(column), of: logs.batch, row: row, services: logs.services, into: &sink)
            } else if let metrics {
                MetricPointsSQL.column(Int32(column), of: metrics.batch, row: row, services: metrics.services, into: &sink)
            } else {
                sink.null()
            }
        }
    }

    /// Block `block` of `reader`, a segment of `kind`, with every column decoded.
    package static func read(_ reader: SegmentReader, block: Int, kind: SegmentKind, pricing: PricingTable) throws(StoreError) -> Block {
        switch kind {
        case .spans:
            let batch = try reader.batch(block: block, pricing: pricing)
            return Block(spans: batch, rows: batch.count)
        case .logs:
            let (batch, rows) = try reader.logBatch(block: block, columns: nil)
            return Block(logs: batch, rows: rows)
        case .metricPoints:
            let (batch, rows) = try reader.metricBatch(block: block, columns: nil)
            return Block(metrics: batch, rows: rows)
        }
    }
}
