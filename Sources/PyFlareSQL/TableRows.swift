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
        fileprivate enum Batch {
            case spans(NormalizedBatch)
            case logs(LogBatch, services: [String?])
            case metrics(MetricBatch, services: [String?])
        }

        fileprivate let batch: Batch
        package let rows: Int

        /// The time a row is filed and ranged by, as SQL's time bounds see it: a span's start,
        /// a log record's time (its observed time when it has none), a metric point's time.
        package func time(_ row: Int) -> Int64 {
            switch batch {
            case .spans(let spans): Int64(bitPattern: spans.spans.startTimes[row])
            case .logs(let logs, _): Int64(bitPattern: LogsSQL.time(logs, row))
            case .metrics(let metrics, _): Int64(bitPattern: MetricPointsSQL.time(metrics, row))
            }
        }

        /// Row `row`'s value of column `column` (an index of ``TableRows/columns(of:)``).
        package func write<Sink: ColumnValueSink>(column: Int, row: Int, into sink: inout Sink) {
            switch batch {
            case .spans(let spans):
                guard let column = SpansSQLColumn(rawValue: Int32(column)) else { return sink.null() }
                spans.writeSQLValue(column, row: row, into: &sink)
            case .logs(let logs, let services): LogsSQL.column(Int32(column), of: logs, row: row, services: services, into: &sink)
            case .metrics(let metrics, let services):
                MetricPointsSQL.column(Int32(column), of: metrics, row: row, services: services, into: &sink)
            }
        }
    }

    /// Block `block` of `reader`, a segment of `kind`, with every column decoded.
    package static func read(_ reader: SegmentReader, block: Int, kind: SegmentKind, pricing: PricingTable) throws(StoreError) -> Block {
        switch kind {
        case .spans:
            let batch = try reader.batch(block: block, pricing: pricing)
            return Block(batch: .spans(batch), rows: batch.count)
        case .logs:
            let (batch, rows) = try reader.logBatch(block: block, columns: nil)
            return Block(batch: .logs(batch, services: batch.resourceServiceNames()), rows: rows)
        case .metricPoints:
            let (batch, rows) = try reader.metricBatch(block: block, columns: nil)
            return Block(batch: .metrics(batch, services: batch.resourceServiceNames()), rows: rows)
        }
    }
}
