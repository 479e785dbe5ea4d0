import Foundation

/// Bins for numeric PSI, fixed from a reference sample. With the interior edges
/// e1 < e2 < … < ek the bins are (-inf, e1], (e1, e2], …, (ek, +inf): right-closed, so every
/// copy of a tied value (a token count of exactly 100) falls into one bin. No edges is a
/// single bin holding every value.
struct NumericBins: Sendable, Hashable {
    /// The interior edges, strictly increasing.
    var edges: [Double]

    /// The number of bins, `edges.count + 1`.
    var count: Int { edges.count + 1 }

    /// The bin holding `value` (the first edge >= value, else the last bin); nil for NaN.
    func bin(of value: Double) -> Int? {
        guard !value.isNaN else { return nil }
        var low = 0, high = edges.count
        while low < high {
            let middle = (low + high) / 2
            if edges[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The number of values of `sample` in each bin; NaN values are not counted.
    func counts(_ sample: [Double]) -> [Int] {
        var counts = [Int](repeating: 0, count: count)
        for value in sample {
            if let bin = bin(of: value) { counts[bin] += 1 }
        }
        return counts
    }

    /// The fraction of `sample` in each bin, over its non-NaN values; all 0 when there are none.
    func shares(_ sample: [Double]) -> [Double] {
        DriftStatistics.shares(counts(sample))
    }
}

/// A PSI score with the per-bin detail behind it, for display.
struct PSIResult: Sendable, Hashable {
    /// Σ (c - r)·ln(c / r) over the bins, shares clamped to at least `epsilon`.
    var score: Double
    /// Numeric PSI: the interior bin edges (see `NumericBins`); empty for categorical PSI.
    var edges: [Double]
    /// Categorical PSI: the category of each bin, in bin order; empty for numeric PSI.
    var categories: [String]
    /// The reference share of each bin (unclamped).
    var referenceShares: [Double]
    /// The current share of each bin (unclamped).
    var currentShares: [Double]
    /// The number of reference values binned (NaN excluded).
    var referenceCount: Int
    /// The number of current values binned (NaN excluded).
    var currentCount: Int
    /// The floor the shares were clamped to.
    var epsilon: Double

    /// Each bin's term of `score`, in bin order.
    var contributions: [Double] {
        DriftStatistics.psiContributions(reference: referenceShares, current: currentShares, epsilon: epsilon)
    }

    /// The severity of `score` under the default thresholds.
    var severity: DriftSeverity { DriftStatistics.severity(psi: score) }
}

/// How far a distribution moved, by the conventional PSI thresholds.
enum DriftSeverity: String, Sendable, Hashable, CaseIterable {
    case none, moderate, significant
}

/// The outcome of a kernel two-sample (MMD) permutation test.
struct MMDResult: Sendable, Hashable {
    /// The unbiased MMD² of the (capped) samples.
    var mmd2: Double
    /// (1 + #{permuted MMD² >= observed}) / (1 + permutations).
    var pValue: Double
    /// The RBF bandwidth σ used.
    var bandwidth: Double
    /// The Euclidean distance between the means of the full (uncapped) samples.
    var centroidShift: Double
    /// The number of reference vectors tested, after capping.
    var referenceCount: Int
    /// The number of current vectors tested, after capping.
    var currentCount: Int
    /// The number of permutations drawn.
    var permutations: Int
}

/// Drift between a reference window and a current window: the population stability index
/// (PSI) over numeric bins or categories, and a kernel two-sample test (MMD) for embeddings.
enum DriftStatistics {
    /// The category that pools whatever `categoricalPSI` does not keep.
    static let otherCategory = "(other)"

    // MARK: PSI

    /// Bins of about equal reference share. Candidate edges are the inverted-CDF quantiles
    /// i/count (i = 1…count-1) of the non-NaN reference, i.e. the sorted value at index
    /// ceil(i·n/count) - 1; being reference values, repeated ones collapse (and are removed)
    /// instead of producing empty bins. Then, while some bin holds fewer than `minimumPerBin`
    /// reference values (at least 1, so no bin is empty) and more than one bin is left, the
    /// smallest bin (the first on ties) merges with its smaller neighbour (the left on ties).
    static func numericBins(reference: [Double], count: Int = 10, minimumPerBin: Int = 20) -> NumericBins {
        let sorted = reference.filter { !$0.isNaN }.sorted()
        let n = sorted.count, wanted = Swift.max(count, 1)
        guard n > 0 else { return NumericBins(edges: []) }
        var edges: [Double] = []
        for i in stride(from: 1, to: wanted, by: 1) {
            let edge = sorted[(i * n + wanted - 1) / wanted - 1]
            // An infinite edge would only fence off an empty bin.
            if edge.isFinite, edge != edges.last { edges.append(edge) }
        }
        var bins = NumericBins(edges: edges)
        var counts = bins.counts(sorted)
        let minimum = Swift.max(minimumPerBin, 1)
        while counts.count > 1, let smallest = counts.indices.min(by: { counts[$0] < counts[$1] }),
              counts[smallest] < minimum {
            let neighbour: Int
            if smallest == 0 {
                neighbour = 1
            } else if smallest == counts.count - 1 {
                neighbour = smallest - 1
            } else {
                neighbour = counts[smallest - 1] <= counts[smallest + 1] ? smallest - 1 : smallest + 1
            }
            let left = Swift.min(smallest, neighbour)
            counts[left] += counts.remove(at: left + 1)
            bins.edges.remove(at: left)
        }
        return bins
    }

    /// PSI of two share vectors (a missing bin counts as share 0): Σ_b (c_b - r_b)·ln(c_b / r_b)
    /// where each share is first clamped to at least `epsilon` (numpy: np.clip(share, eps, None)),
    /// without renormalizing, so a bin empty on one side adds a large but finite term.
    /// `epsilon` should be > 0; it is floored at the least positive Double.
    static func psi(reference: [Double], current: [Double], epsilon: Double = 1e-4) -> Double {
        psiContributions(reference: reference, current: current, epsilon: epsilon).reduce(0, +)
    }

    /// PSI of `current` against `reference` over bins fixed by `numericBins(reference:…)`.
    /// An empty sample has all-zero shares (check the counts in the result).
    static func numericPSI(
        reference: [Double], current: [Double], bins: Int = 10, minimumPerBin: Int = 20, epsilon: Double = 1e-4
    ) -> PSIResult {
        let binning = numericBins(reference: reference, count: bins, minimumPerBin: minimumPerBin)
        let referenceCounts = binning.counts(reference), currentCounts = binning.counts(current)
        return result(
            referenceCounts: referenceCounts, currentCounts: currentCounts,
            edges: binning.edges, categories: [], epsilon: epsilon)
    }

    /// PSI over the union of the categories of two count tables (negative counts taken as 0;
    /// a category absent on one side has share 0 there, clamped to `epsilon`). With
    /// `maxCategories` = N (at least 1), the N categories of highest reference + current count
    /// (ties by name) are kept, in that order, and the rest pooled into "(other)", the last bin;
    /// nil keeps every category. Shares are over all counts of a side, pooled ones included.
    static func categoricalPSI(
        reference: [String: Int], current: [String: Int], epsilon: Double = 1e-4, maxCategories: Int? = 20
    ) -> PSIResult {
        var totals: [String: Int] = [:]
        for (category, count) in reference where count > 0 { totals[category, default: 0] += count }
        for (category, count) in current where count > 0 { totals[category, default: 0] += count }
        let ranked = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        let limit = maxCategories.map { Swift.max($0, 1) } ?? ranked.count
        var categories = Array(ranked.prefix(limit))
        var index = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
        if ranked.count > limit, index[otherCategory] == nil {
            index[otherCategory] = categories.count
            categories.append(otherCategory)
        }
        // Every category not kept lands in "(other)", which exists whenever something was pooled.
        let pooled = index[otherCategory] ?? 0
        func counts(_ table: [String: Int]) -> [Int] {
            var counts = [Int](repeating: 0, count: categories.count)
            for (category, count) in table where count > 0 { counts[index[category] ?? pooled] += count }
            return counts
        }
        return result(
            referenceCounts: counts(reference), currentCounts: counts(current),
            edges: [], categories: categories, epsilon: epsilon)
    }

    /// `.significant` when psi >= `significant`, `.moderate` when psi >= `moderate`, else
    /// `.none` (NaN included).
    static func severity(psi: Double, moderate: Double = 0.1, significant: Double = 0.25) -> DriftSeverity {
        if psi >= significant { return .significant }
        if psi >= moderate { return .moderate }
        return .none
    }

    static func psiContributions(reference: [Double], current: [Double], epsilon: Double) -> [Double] {
        let floor = Swift.max(epsilon, .leastNonzeroMagnitude)
        return (0..<Swift.max(reference.count, current.count)).map { bin in
            let r = Swift.max(bin < reference.count ? reference[bin] : 0, floor)
            let c = Swift.max(bin < current.count ? current[bin] : 0, floor)
            return (c - r) * log(c / r)
        }
    }

    static func shares(_ counts: [Int]) -> [Double] {
        let total = counts.reduce(0, +)
        guard total > 0 else { return counts.map { _ in 0 } }
        return counts.map { Double($0) / Double(total) }
    }

    private static func result(
        referenceCounts: [Int], currentCounts: [Int], edges: [Double], categories: [String], epsilon: Double
    ) -> PSIResult {
        let referenceShares = shares(referenceCounts), currentShares = shares(currentCounts)
        return PSIResult(
            score: psi(reference: referenceShares, current: currentShares, epsilon: epsilon),
            edges: edges, categories: categories,
            referenceShares: referenceShares, currentShares: currentShares,
            referenceCount: referenceCounts.reduce(0, +), currentCount: currentCounts.reduce(0, +),
            epsilon: epsilon)
    }

    // MARK: MMD

    /// Kernel two-sample test of `current` against `reference` (vectors of one dimension).
    ///
    /// Samples over `maxSamples` (at least 2) are first cut to a seeded random subset. The
    /// statistic is the unbiased MMD² with the RBF kernel k(x, y) = exp(-‖x - y‖² / (2σ²)):
    /// 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n-1)) Σ_{i≠j} k(y_i, y_j) - 2/(mn) Σ_{i,j} k(x_i, y_j).
    /// σ is `bandwidth` when given, positive and finite; otherwise the median heuristic
    /// σ² = median/2 with the median of ‖·‖² over the distinct pairs i < j of the pooled
    /// sample (so k = exp(-‖x - y‖² / median)), and σ = 1 when that median is 0.
    /// The p-value is (1 + #{permuted MMD² >= observed}) / (1 + permutations) over random
    /// re-splits of the pooled sample, all reading one kernel matrix computed up front.
    /// The same seed draws the same subsets and permutations on every platform (own PRNG).
    ///
    /// Nil when a side has fewer than 2 vectors, the dimensions differ, or a coordinate is
    /// not finite.
    static func mmdTest(
        reference: [[Double]], current: [[Double]], bandwidth: Double? = nil,
        permutations: Int = 200, seed: UInt64 = 42, maxSamples: Int = 500
    ) -> MMDResult? {
        guard reference.count >= 2, current.count >= 2, let dimension = reference.first?.count else { return nil }
        let valid = { (vector: [Double]) in vector.count == dimension && vector.allSatisfy(\.isFinite) }
        guard reference.allSatisfy(valid), current.allSatisfy(valid) else { return nil }

        var generator = SplitMix64(seed: seed)
        let limit = Swift.max(maxSamples, 2)
        let referenceIndices = sampleIndices(count: reference.count, limit: limit, using: &generator)
        let currentIndices = sampleIndices(count: current.count, limit: limit, using: &generator)
        let m = referenceIndices.count, n = currentIndices.count
        var pooled: [Double] = []
        pooled.reserveCapacity((m + n) * dimension)
        for index in referenceIndices { pooled.append(contentsOf: reference[index]) }
        for index in currentIndices { pooled.append(contentsOf: current[index]) }

        let distances = squaredDistances(pooled, count: m + n, dimension: dimension)
        let sigma = bandwidth.flatMap { usableBandwidth($0) }
            ?? usableBandwidth((medianOffDiagonal(distances, size: m + n) / 2).squareRoot()) ?? 1
        let kernel = KernelMatrix(squaredDistances: distances, size: m + n, bandwidth: sigma)

        // MMD² is symmetric in the two samples, so each split is scored from its smaller side.
        let smaller = Swift.min(m, n)
        let observed = kernel.mmd2(group: Array(m <= n ? 0..<m : m..<(m + n))[...])
        // Sums over the same split in another order may differ in the last bits.
        let threshold = observed - 1e-12 * abs(observed)
        let draws = Swift.max(permutations, 0)
        var order = Array(0..<(m + n))
        var exceeding = 0
        for _ in 0..<draws {
            partialShuffle(&order, prefix: smaller, using: &generator)
            if kernel.mmd2(group: order[..<smaller]) >= threshold { exceeding += 1 }
        }
        return MMDResult(
            mmd2: observed, pValue: Double(1 + exceeding) / Double(1 + draws), bandwidth: sigma,
            centroidShift: centroidShift(reference, current), referenceCount: m, currentCount: n,
            permutations: draws)
    }

    /// The Euclidean distance between the means of `a` and `b`; NaN when either is empty or
    /// the dimensions differ.
    static func centroidShift(_ a: [[Double]], _ b: [[Double]]) -> Double {
        guard let meanA = mean(a), let meanB = mean(b), meanA.count == meanB.count else { return .nan }
        var sum = 0.0
        for (x, y) in zip(meanA, meanB) { sum += (x - y) * (x - y) }
        return sum.squareRoot()
    }

    private static func mean(_ vectors: [[Double]]) -> [Double]? {
        guard let dimension = vectors.first?.count, vectors.allSatisfy({ $0.count == dimension }) else { return nil }
        var sum = [Double](repeating: 0, count: dimension)
        for vector in vectors {
            for (axis, value) in vector.enumerated() { sum[axis] += value }
        }
        return sum.map { $0 / Double(vectors.count) }
    }

    private static func usableBandwidth(_ sigma: Double) -> Double? {
        // σ² must stay positive and finite, or the kernel degenerates to NaN or all zeros.
        sigma > 0 && sigma * sigma > 0 && (sigma * sigma).isFinite ? sigma : nil
    }

    /// The indices 0..<count, or a seeded random `limit` of them (ascending) when count > limit.
    private static func sampleIndices(count: Int, limit: Int, using generator: inout SplitMix64) -> [Int] {
        var indices = Array(0..<count)
        guard count > limit else { return indices }
        partialShuffle(&indices, prefix: limit, using: &generator)
        return indices[..<limit].sorted()
    }

    /// Fisher–Yates over the first `prefix` positions only: they become a uniform random
    /// ordered subset whatever the starting order, which is all a split needs.
    private static func partialShuffle(_ values: inout [Int], prefix: Int, using generator: inout SplitMix64) {
        for position in 0..<Swift.min(prefix, values.count) {
            values.swapAt(position, position + generator.nextIndex(below: values.count - position))
        }
    }

    /// ‖x_i - x_j‖² for the `count` vectors of `points` (row-major), as a full symmetric
    /// row-major matrix with a zero diagonal.
    private static func squaredDistances(_ points: [Double], count: Int, dimension: Int) -> [Double] {
        var distances = [Double](repeating: 0, count: count * count)
        points.withUnsafeBufferPointer { x in
            distances.withUnsafeMutableBufferPointer { d in
                for i in 0..<count {
                    let xi = i * dimension
                    for j in (i + 1)..<count {
                        let xj = j * dimension
                        var sum = 0.0
                        for axis in 0..<dimension {
                            let difference = x[xi + axis] - x[xj + axis]
                            sum += difference * difference
                        }
                        d[i * count + j] = sum
                        d[j * count + i] = sum
                    }
                }
            }
        }
        return distances
    }

    private static func medianOffDiagonal(_ matrix: [Double], size: Int) -> Double {
        var upper: [Double] = []
        upper.reserveCapacity(size * (size - 1) / 2)
        for i in 0..<size {
            upper.append(contentsOf: matrix[(i * size + i + 1)..<((i + 1) * size)])
        }
        return Statistics.median(upper)
    }
}

/// The RBF kernel matrix of a pooled sample with the sums every split shares, so a
/// permutation costs a pass over the smaller group's block instead of new kernels.
private struct KernelMatrix {
    let size: Int
    /// k(x_i, x_j), row-major size × size, symmetric with a unit diagonal.
    let values: [Double]
    /// Σ_j k(x_i, x_j) for each row i.
    let rowSums: [Double]
    /// Σ_{i,j} k(x_i, x_j).
    let total: Double

    init(squaredDistances: [Double], size: Int, bandwidth: Double) {
        let scale = -1 / (2 * bandwidth * bandwidth)
        var values = squaredDistances.map { exp($0 * scale) }
        for i in 0..<size { values[i * size + i] = 1 }
        var rowSums = [Double](repeating: 0, count: size)
        for i in 0..<size { rowSums[i] = values[(i * size)..<((i + 1) * size)].reduce(0, +) }
        self.size = size
        self.values = values
        self.rowSums = rowSums
        self.total = rowSums.reduce(0, +)
    }

    /// The unbiased MMD² between the pooled points at `group` (at least 2 and at most
    /// size - 2 distinct indices) and the rest. Only the group's own block is read: the
    /// cross sum follows from the row sums and the rest's block from the total.
    func mmd2(group: ArraySlice<Int>) -> Double {
        let g = Double(group.count), h = Double(size - group.count)
        var within = 0.0    // Σ_{i<j in group} k
        var rows = 0.0      // Σ_{i in group} rowSums[i]
        values.withUnsafeBufferPointer { k in
            group.withUnsafeBufferPointer { members in
                for a in 0..<members.count {
                    let row = members[a] * size
                    rows += rowSums[members[a]]
                    for b in (a + 1)..<members.count { within += k[row + members[b]] }
                }
            }
        }
        let groupBlock = g + 2 * within             // diagonal included
        let cross = rows - groupBlock
        let restBlock = total - groupBlock - 2 * cross
        return 2 * within / (g * (g - 1)) + (restBlock - h) / (h * (h - 1)) - 2 * cross / (g * h)
    }
}

/// SplitMix64 (Steele, Lea & Flood), small and fully specified, so seeded draws are the same
/// on every platform.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound (bound > 0) by multiply-high, rather than the standard library's
    /// `next(upperBound:)`, whose algorithm is not a documented contract.
    mutating func nextIndex(below bound: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(bound).multipliedFullWidth(by: next()).high)
    }
}
