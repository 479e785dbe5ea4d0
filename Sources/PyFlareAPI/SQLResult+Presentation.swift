import Foundation
public import PyFlareSQL
public import PyFlareWire

// SQL answers as clients see them: the JSON of `POST /api/v1/sql`, and the table and CSV of `pyflare sql`.

extension SQLValue {
    /// The value as JSON: blobs as lowercase hex text, non-finite reals as strings.
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null: json.null()
        case .integer(let value): json.int(value)
        case .real(let value): json.double(value)
        case .text(let value): json.string(value)
        case .blob(let bytes): json.string(Hex.string(bytes: bytes))
        }
    }
}

extension SQLResult {
    /// `{"columns", "rows", "row_count", "elapsed_ms", "truncated", "scan"}`: the answer of
    /// `POST /api/v1/sql` and of `pyflare sql --format json`.
    public func write(to json: inout JSONWriter) {
        json.raw("{")
        json.member("columns", columns)
        json.raw(#","rows":["#)
        json.elements(of: rows) { row, json in
            json.byte(UInt8(ascii: "["))
            for (position, value) in row.enumerated() {
                if position > 0 { json.byte(UInt8(ascii: ",")) }
                value.write(to: &json)
            }
            json.byte(UInt8(ascii: "]"))
        }
        json.raw(#"],"row_count":"#)
        json.int(Int64(rows.count))
        json.member("elapsed_ms", (elapsedSeconds * 1e6).rounded() / 1e3)
        json.member("truncated", truncated)
        json.raw(#","scan":{"segments":"#)
        json.int(Int64(scan.segments))
        json.member("blocks_read", scan.blocks)
        json.member("blocks_skipped", scan.blocksSkipped)
        json.member("unsealed_batches", scan.unsealedBatches)
        json.member("rows_scanned", scan.rows)
        json.member("blocks_fenced", scan.blocksFenced)
        json.raw("}")
        if !scan.warnings.isEmpty {
            json.member("warnings", scan.warnings)
        }
        json.raw("}")
    }

    /// An aligned text table: numbers right-aligned, NULL shown as `NULL`, then a count line.
    public var table: String {
        let cells = rows.map { $0.map { $0 == .null ? "NULL" : $0.text.replacingNewlines } }
        var widths = columns.map(\.count)
        for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        let numeric = columns.indices.map { index in
            rows.allSatisfy { row in
                switch row[index] {
                case .integer, .real, .null: true
                default: false
                }
            }
        }
        func line(_ values: [String]) -> String {
            values.enumerated().map { index, value in
                let padding = String(repeating: " ", count: widths[index] - value.count)
                return numeric[index] ? padding + value : value + padding
            }.joined(separator: " | ")
        }
        var lines = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        lines += cells.map(line)
        lines.append("(\(rows.count) row\(rows.count == 1 ? "" : "s")\(truncated ? ", truncated" : ""))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 CSV with a header row; NULL is an empty field.
    public var csv: String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var lines = [columns.map(field).joined(separator: ",")]
        lines += rows.map { $0.map { field($0.text) }.joined(separator: ",") }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

private extension String {
    /// Multi-line values on one table line.
    var replacingNewlines: String { replacingOccurrences(of: "\n", with: "\\n") }
}
