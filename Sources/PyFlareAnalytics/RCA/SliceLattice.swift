import Foundation
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// A slice: one dimension value, or two of two dimensions (value ids as `SliceRequests` interns them).
struct SliceKey: Hashable {
    var first: Int32
    var firstValue: UInt32
    var second: Int32 = -1
    var secondValue: UInt32 = 0

    var isSingle: Bool { second < 0 }

    var parents: [SliceKey] {
        isSingle ? [] : [SliceKey(first: first, firstValue: firstValue), SliceKey(first: second, firstValue: secondValue)]
    }

    func contains(dimension: Int) -> Bool { Int(first) == dimension || Int(second) == dimension }

    func definition(names: [String], values: [[String]]) -> [(String, String)] {
        var pairs = [(names[Int(first)], values[Int(first)][Int(firstValue) - 1])]
        if !isSingle { pairs.append((names[Int(second)], values[Int(second)][Int(secondValue) - 1])) }
        return pairs
    }
}

/// Counts and sums of one slice's requests, and, for screened candidates, their distributions.
struct SliceStatistics {
    var key: SliceKey
    var count = 0
    var errors = 0
    /// By `SliceMeasure.rawValue`; fixed size, so that a slice's counters need no allocation.
    var sums = SIMD3<Double>(repeating: 0)
    var measuredCounts = SIMD3<Int>(repeating: 0)
    /// By `SliceMeasure.rawValue`; empty until filled.
    var distributions: [BinnedDistribution] = []

    func measured(_ measure: SliceMeasure) -> Int { measuredCounts[measure.rawValue] }
    func sum(_ measure: SliceMeasure) -> Double { sums[measure.rawValue] }
}

/// The requests of an analysis, held compactly: one interned value id per dimension (0 when
/// absent), the error flag, and latency (ms), cost (micro-dollars) and tokens (NaN when absent).
struct SliceRequests {
    let dimensions: Int
    private(set) var values: [[String]]
    private var ids: [[String: UInt32]]
    private var cells: [UInt32] = []
    private var errors: [Bool] = []
    private var measures: [[Double]] = [[], [], []]

    init(dimensions: Int) {
        self.dimensions = dimensions
        values = Array(repeating: [], count: dimensions)
        ids = Array(repeating: [:], count: dimensions)
    }

    var count: Int { errors.count }

    private mutating func intern(_ text: String?, dimension: Int) -> UInt32 {
        guard let text, !text.isEmpty else { return 0 }
        if let id = ids[dimension][text] { return id }
        values[dimension].append(text)
        let id = UInt32(values[dimension].count)
        ids[dimension][text] = id
        return id
    }

    /// Appends one row of `SliceAnalyzer.statement`.
    mutating func append(_ row: [SQLValue], customColumns: Int) {
        for column in 0..<8 { cells.append(intern(row[column].string, dimension: column)) }
        let input = row[8].integer, output = row[9].integer, duration = row[10].integer ?? 0, start = row[11].integer ?? 0
        cells.append(intern(input.map { Self.bucket($0, [100, 500, 2_000, 8_000, 32_000], unit: "tok") }, dimension: 8))
        cells.append(intern(output.map { Self.bucket($0, [50, 200, 1_000, 4_000], unit: "tok") }, dimension: 9))
        cells.append(intern(Self.bucket(duration / 1_000_000, [1_000, 3_000, 10_000, 30_000], unit: "ms"), dimension: 10))
        let seconds = start / UnixTime.second
        let hour = Int((seconds % 86_400 + 86_400) % 86_400 / 3_600)
        cells.append(intern(hour < 10 ? "0\(hour)" : "\(hour)", dimension: 11))
        let weekday = Int(((seconds / 86_400) % 7 + 7 + 3) % 7)  // 1970-01-01 was a Thursday
        cells.append(intern(["mon", "tue", "wed", "thu", "fri", "sat", "sun"][weekday], dimension: 12))
        for custom in 0..<customColumns {
            let value = row[15 + custom]
            cells.append(intern(value == .null ? nil : value.text, dimension: 13 + custom))
        }
        errors.append(row[12].integer == 1)
        measures[SliceMeasure.latency.rawValue].append(Double(duration) / 1_000_000)
        measures[SliceMeasure.cost.rawValue].append(row[13].real ?? .nan)
        measures[SliceMeasure.tokens.rawValue].append(row[14].real ?? .nan)
    }

    /// `<100tok`, `100-500tok`, …, `32000+tok`.
    static func bucket(_ value: Int64, _ bounds: [Int64], unit: String) -> String {
        guard let upper = bounds.firstIndex(where: { value < $0 }) else { return "\(bounds.last!)+\(unit)" }
        return upper == 0 ? "<\(bounds[0])\(unit)" : "\(bounds[upper - 1])-\(bounds[upper])\(unit)"
    }

    /// The values of `row` that `keep` accepts, as (dimension, value id), into `present`.
    private func values(of row: Int, into present: inout [(Int32, UInt32)], keep: (Int, UInt32) -> Bool = { _, _ in true }) {
        present.removeAll(keepingCapacity: true)
        for dimension in 0..<dimensions {
            let value = cells[row * dimensions + dimension]
            if value != 0 && keep(dimension, value) { present.append((Int32(dimension), value)) }
        }
    }

    /// Every pair of two of `present`'s values.
    private func forEachPair(_ present: [(Int32, UInt32)], _ body: (SliceKey) -> Void) {
        for i in present.indices {
            for j in (i + 1)..<present.count {
                body(SliceKey(first: present[i].0, firstValue: present[i].1, second: present[j].0, secondValue: present[j].1))
            }
        }
    }

    private func add(_ row: Int, to slice: inout SliceStatistics) {
        slice.count += 1
        if errors[row] { slice.errors += 1 }
        for measure in 0..<3 {
            let value = measures[measure][row]
            if !value.isNaN {
                slice.sums[measure] += value
                slice.measuredCounts[measure] += 1
            }
        }
    }

    var totals: SliceStatistics {
        var total = SliceStatistics(key: SliceKey(first: -1, firstValue: 0))
        for row in 0..<count { add(row, to: &total) }
        return total
    }

    /// Every value with at least `minSupport` requests, then every pair of such values of two
    /// dimensions that co-occur in at least `minSupport` requests.
    func sliceStatistics(minSupport: Int) -> [SliceStatistics] {
        var singles: [SliceKey: SliceStatistics] = [:]
        var present: [(Int32, UInt32)] = []
        for row in 0..<count {
            values(of: row, into: &present)
            for (dimension, value) in present {
                let key = SliceKey(first: dimension, firstValue: value)
                add(row, to: &singles[key, default: SliceStatistics(key: key)])
            }
        }
        singles = singles.filter { $0.value.count >= minSupport && $0.value.count < count }
        var frequent = [[Bool]](repeating: [], count: dimensions)
        for dimension in 0..<dimensions { frequent[dimension] = Array(repeating: false, count: values[dimension].count + 1) }
        for key in singles.keys { frequent[Int(key.first)][Int(key.firstValue)] = true }

        var pairIndex: [SliceKey: Int] = [:]
        var pairs: [SliceStatistics] = []
        for row in 0..<count {
            values(of: row, into: &present) { dimension, value in frequent[dimension][Int(value)] }
            forEachPair(present) { key in
                if let index = pairIndex[key] {
                    add(row, to: &pairs[index])
                } else {
                    pairIndex[key] = pairs.count
                    var slice = SliceStatistics(key: key)
                    add(row, to: &slice)
                    pairs.append(slice)
                }
            }
        }
        return Array(singles.values) + pairs.filter { $0.count >= minSupport && $0.count < count }
    }

    private func bin(_ row: Int, _ measure: SliceMeasure) -> Int? {
        let value = measures[measure.rawValue][row]
        guard !value.isNaN else { return nil }
        return BinnedDistribution.logBin(value, bins: measure.bins, minimum: measure.minimum, growth: measure.growth)
    }

    /// Fills the distributions of the `candidates` (indices into `slices`).
    func fillDistributions(of slices: inout [SliceStatistics], candidates: Set<Int>) {
        var byKey: [SliceKey: Int] = [:]
        for index in candidates {
            byKey[slices[index].key] = index
            slices[index].distributions = SliceMeasure.allCases.map { BinnedDistribution(bins: $0.bins) }
        }
        guard !byKey.isEmpty else { return }
        var present: [(Int32, UInt32)] = []
        for row in 0..<count {
            let bins = (bin(row, .latency), bin(row, .cost), bin(row, .tokens))
            func add(_ key: SliceKey) {
                guard let index = byKey[key] else { return }
                if let bin = bins.0 { slices[index].distributions[SliceMeasure.latency.rawValue].add(bin: bin) }
                if let bin = bins.1 { slices[index].distributions[SliceMeasure.cost.rawValue].add(bin: bin) }
                if let bin = bins.2 { slices[index].distributions[SliceMeasure.tokens.rawValue].add(bin: bin) }
            }
            values(of: row, into: &present)
            for (dimension, value) in present { add(SliceKey(first: dimension, firstValue: value)) }
            forEachPair(present, add)
        }
    }

    /// The distributions of all requests.
    func wholeDistributions() -> [BinnedDistribution] {
        var whole = SliceMeasure.allCases.map { BinnedDistribution(bins: $0.bins) }
        for row in 0..<count {
            for measure in SliceMeasure.allCases {
                if let bin = bin(row, measure) { whole[measure.rawValue].add(bin: bin) }
            }
        }
        return whole
    }
}
