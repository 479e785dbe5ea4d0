import Foundation

/// Counts over a fixed set of ordered bins (for example log-spaced latency bins), the
/// compact form in which root-cause jobs compare distributions. Bin indices outside
/// `0..<counts.count` are clamped into it.
struct BinnedDistribution: Sendable, Hashable {
    /// The count of each bin, in bin order.
    var counts: [Int]

    /// An empty distribution over `bins` bins (at least one).
    init(bins: Int) {
        counts = Array(repeating: 0, count: Swift.max(bins, 1))
    }

    /// A distribution with the given counts (negative counts are taken as 0).
    init(counts: [Int]) {
        self.counts = counts.isEmpty ? [0] : counts.map { Swift.max($0, 0) }
    }

    /// The number of bins.
    var bins: Int { counts.count }

    /// The sum of the counts.
    var total: Int { counts.reduce(0, +) }

    /// Adds `count` values to `bin` (clamped into the bins).
    mutating func add(bin: Int, count: Int = 1) {
        counts[Swift.min(Swift.max(bin, 0), counts.count - 1)] += count
    }

    /// Adds every count of `other` bin by bin, growing to the larger number of bins.
    mutating func merge(_ other: BinnedDistribution) {
        if other.counts.count > counts.count {
            counts.append(contentsOf: repeatElement(0, count: other.counts.count - counts.count))
        }
        for (bin, count) in other.counts.enumerated() { counts[bin] += count }
    }

    /// The bin-by-bin sum of `self` and `other`.
    func merging(_ other: BinnedDistribution) -> BinnedDistribution {
        var result = self
        result.merge(other)
        return result
    }

    /// The complement of `part` in `self` (the whole): bin-by-bin difference, floored at 0.
    func subtracting(_ part: BinnedDistribution) -> BinnedDistribution {
        var result = self
        for (bin, count) in part.counts.enumerated() where bin < result.counts.count {
            result.counts[bin] = Swift.max(result.counts[bin] - count, 0)
        }
        return result
    }

    /// The complement of `part` in `whole`; see `subtracting(_:)`.
    static func - (whole: BinnedDistribution, part: BinnedDistribution) -> BinnedDistribution {
        whole.subtracting(part)
    }

    /// The log-spaced bin of a positive value: bin 0 holds values <= `minimum` (and NaN),
    /// bin i >= 1 holds (minimum·growth^(i-1), minimum·growth^i]; clamped to `bins - 1`.
    /// `minimum` > 0, `growth` > 1.
    static func logBin(_ value: Double, bins: Int, minimum: Double, growth: Double) -> Int {
        guard bins > 1, value > minimum else { return 0 }
        let position = (log(value / minimum) / log(growth)).rounded(.up)
        guard position.isFinite, position < Double(bins - 1) else { return bins - 1 }
        return Swift.max(Int(position), 1)
    }

    /// The value at quantile `q` (clamped to 0...1): the geometric midpoint
    /// minimum·growth^(i-½) of the first bin i where the cumulative count reaches q·total
    /// (`minimum` itself for bin 0; the last, open-ended bin is treated as one growth step
    /// wide); NaN when empty.
    func quantile(_ q: Double, minimum: Double, growth: Double) -> Double {
        let total = self.total
        guard total > 0 else { return .nan }
        let target = Swift.min(Swift.max(q.isNaN ? 0.5 : q, 0), 1) * Double(total)
        var cumulative = 0
        var found = counts.count - 1
        for (bin, count) in counts.enumerated() {
            cumulative += count
            if cumulative > 0, Double(cumulative) >= target {
                found = bin
                break
            }
        }
        return found == 0 ? minimum : minimum * pow(growth, Double(found) - 0.5)
    }
}

/// Pure statistical tests and robust estimators used by root-cause analysis jobs.
enum Statistics {
    // MARK: Normal distribution

    /// P(Z <= z) for a standard normal Z, via 0.5·erfc(-z/√2).
    static func normalCDF(_ z: Double) -> Double {
        0.5 * erfc(-z / 2.0.squareRoot())
    }

    /// P(Z > z) for a standard normal Z, via 0.5·erfc(z/√2) (accurate far into the upper tail).
    static func normalSurvival(_ z: Double) -> Double {
        0.5 * erfc(z / 2.0.squareRoot())
    }

    /// Two-sided p-value of a standard normal statistic: 2·P(Z > |z|), capped at 1.
    static func twoSidedPValue(_ z: Double) -> Double {
        Swift.min(1, 2 * normalSurvival(abs(z)))
    }

    // MARK: Proportions

    /// Pooled two-proportion z test of rate 1 (successes1/total1) against rate 2, two-sided;
    /// z > 0 when rate 1 is higher. (0, 1) when a total is 0 or the pooled rate is 0 or 1.
    static func twoProportionTest(
        successes1: Int, total1: Int, successes2: Int, total2: Int
    ) -> (z: Double, pValue: Double) {
        guard total1 > 0, total2 > 0 else { return (0, 1) }
        let n1 = Double(total1), n2 = Double(total2)
        let pooled = Double(successes1 + successes2) / (n1 + n2)
        guard pooled > 0, pooled < 1 else { return (0, 1) }
        let standardError = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).squareRoot()
        let z = (Double(successes1) / n1 - Double(successes2) / n2) / standardError
        guard z.isFinite else { return (0, 1) }
        return (z, twoSidedPValue(z))
    }

    // MARK: Distributions

    /// Mann–Whitney U test of two samples binned over the same bins, values of one bin being
    /// ties (midranks); normal approximation with tie-corrected variance, no continuity
    /// correction, two-sided. z > 0 and `probabilityAGreater` = U_a/(n_a·n_b) > 0.5 when `a`
    /// sits higher. (0, 1, 0.5) when a sample is empty or the variance is 0. O(bins).
    static func mannWhitney(
        _ a: BinnedDistribution, _ b: BinnedDistribution
    ) -> (z: Double, pValue: Double, probabilityAGreater: Double) {
        let none = (z: 0.0, pValue: 1.0, probabilityAGreater: 0.5)
        let bins = Swift.max(a.counts.count, b.counts.count)
        // U_a = #pairs with a > b + ½ #tied pairs, accumulated bin by bin; tieTerm = Σ(t³ - t).
        var uA = 0.0, bBelow = 0.0, nA = 0.0, tieTerm = 0.0
        for bin in 0..<bins {
            let countA = bin < a.counts.count ? Double(a.counts[bin]) : 0
            let countB = bin < b.counts.count ? Double(b.counts[bin]) : 0
            uA += countA * (bBelow + 0.5 * countB)
            bBelow += countB
            nA += countA
            let tied = countA + countB
            tieTerm += (tied * tied - 1) * tied
        }
        let nB = bBelow, n = nA + nB
        guard nA > 0, nB > 0 else { return none }
        let variance = nA * nB / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        // Relative tolerance: with every value in one bin the bracket cancels to rounding noise.
        guard variance > 1e-9 * nA * nB * (n + 1) / 12 else { return none }
        let z = (uA - nA * nB / 2) / variance.squareRoot()
        return (z, twoSidedPValue(z), uA / (nA * nB))
    }

    /// Benjamini–Hochberg adjusted p-values (q-values), in the input order: min over ranks
    /// k >= i of p_(k)·m/k, capped at 1; NaN p-values count as 1.
    static func benjaminiHochberg(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        guard m > 0 else { return [] }
        let cleaned = pValues.map { $0.isNaN ? 1 : Swift.min(Swift.max($0, 0), 1) }
        let order = cleaned.indices.sorted { cleaned[$0] < cleaned[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 1.0
        for rank in stride(from: m, through: 1, by: -1) {
            let index = order[rank - 1]
            running = Swift.min(running, cleaned[index] * Double(m) / Double(rank))
            adjusted[index] = running
        }
        return adjusted
    }

    // MARK: Robust location and scale

    /// The median (mean of the two middle values for an even count); NaN when empty.
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        return sortedMedian(values.sorted())
    }

    /// The median absolute deviation from the median (unscaled); NaN when empty.
    static func medianAbsoluteDeviation(_ values: [Double]) -> Double {
        let center = median(values)
        guard !center.isNaN else { return .nan }
        return median(values.map { abs($0 - center) })
    }

    /// Robust z-score of `value` against `history`: (value - median) / max(1.4826·MAD, floor),
    /// 1.4826·MAD estimating the standard deviation of normal data; NaN for an empty history.
    /// `floor` > 0 keeps a constant history from dividing by 0.
    static func robustZ(_ value: Double, history: [Double], floor: Double) -> Double {
        let center = median(history)
        guard !center.isNaN else { return .nan }
        let mad = median(history.map { abs($0 - center) })
        return (value - center) / Swift.max(1.4826 * mad, floor)
    }

    private static func sortedMedian(_ sorted: [Double]) -> Double {
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    // MARK: Trends

    /// Mann–Kendall trend test: S = Σ_{i<j} sign(x_j - x_i), tie-corrected variance,
    /// continuity correction, ONE-sided p-value for an upward trend (small p = significant
    /// increase; S = 0 gives 0.5). (0, 0, 1) for fewer than 4 points. O(n²).
    static func mannKendall(_ series: [Double]) -> (s: Int, z: Double, pValue: Double) {
        let n = series.count
        guard n >= 4 else { return (0, 0, 1) }
        var s = 0
        for i in 0..<(n - 1) {
            let xi = series[i]
            for j in (i + 1)..<n {
                if series[j] > xi { s += 1 } else if series[j] < xi { s -= 1 }
            }
        }
        // Σ t(t-1)(2t+5) over groups of tied values.
        var tieTerm = 0.0
        let sorted = series.sorted()
        var start = 0
        while start < n {
            var end = start + 1
            while end < n, sorted[end] == sorted[start] { end += 1 }
            let t = Double(end - start)
            tieTerm += t * (t - 1) * (2 * t + 5)
            start = end
        }
        let count = Double(n)
        let variance = (count * (count - 1) * (2 * count + 5) - tieTerm) / 18
        guard variance > 0, s != 0 else { return (s, 0, 0.5) }
        let z = (Double(s) - (s > 0 ? 1 : -1)) / variance.squareRoot()
        return (s, z, normalSurvival(z))
    }

    /// Theil–Sen slope: the median of the pairwise slopes (x_j - x_i)/(j - i) over the
    /// index (x = 0, 1, 2, …); NaN for fewer than 2 points. O(n²) time and memory.
    static func theilSenSlope(_ series: [Double]) -> Double {
        let n = series.count
        guard n >= 2 else { return .nan }
        var slopes: [Double] = []
        slopes.reserveCapacity(n * (n - 1) / 2)
        for i in 0..<(n - 1) {
            for j in (i + 1)..<n {
                slopes.append((series[j] - series[i]) / Double(j - i))
            }
        }
        return median(slopes)
    }

    /// The index where an upward level shift most likely begins: one past the argmin of the
    /// cumulative sum of (x - mean), i.e. the first point of the upper regime. Nil for fewer
    /// than 4 points, a constant series, or no prefix sitting below the mean.
    static func cusumChangePoint(_ series: [Double]) -> Int? {
        let n = series.count
        guard n >= 4, let low = series.min(), let high = series.max(), low < high else { return nil }
        let mean = series.reduce(0, +) / Double(n)
        let tolerance = 1e-12 * series.reduce(0) { $0 + abs($1 - mean) }
        var cumulative = 0.0, lowest = 0.0
        var lowestIndex: Int?
        for index in 0..<(n - 1) {
            cumulative += series[index] - mean
            if cumulative < lowest - tolerance {
                lowest = cumulative
                lowestIndex = index
            }
        }
        return lowestIndex.map { $0 + 1 }
    }

    // MARK: Goodness of fit

    /// Pearson chi-square goodness of fit of counts against expected shares (normalized over
    /// the cells with a positive share; other cells skipped, counts included), df = cells - 1,
    /// p-value Q(df/2, χ²/2). (0, df, 1) when there is nothing to test.
    static func chiSquareUniformity(
        observed: [Int], expectedShares: [Double]
    ) -> (statistic: Double, degreesOfFreedom: Int, pValue: Double) {
        let cells = Swift.min(observed.count, expectedShares.count)
        var shareTotal = 0.0, countTotal = 0.0, used = 0
        for cell in 0..<cells where expectedShares[cell] > 0 && expectedShares[cell].isFinite {
            shareTotal += expectedShares[cell]
            countTotal += Double(observed[cell])
            used += 1
        }
        let degreesOfFreedom = Swift.max(used - 1, 0)
        guard degreesOfFreedom > 0, countTotal > 0 else { return (0, degreesOfFreedom, 1) }
        var statistic = 0.0
        for cell in 0..<cells where expectedShares[cell] > 0 && expectedShares[cell].isFinite {
            let expected = countTotal * expectedShares[cell] / shareTotal
            let difference = Double(observed[cell]) - expected
            statistic += difference * difference / expected
        }
        let pValue = regularizedGammaQ(Double(degreesOfFreedom) / 2, statistic / 2)
        return (statistic, degreesOfFreedom, pValue)
    }

    /// The regularized upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a), by the series
    /// for P when x < a + 1 and Lentz's continued fraction otherwise (Numerical Recipes
    /// gser/gcf). NaN when a <= 0 or an argument is NaN; 1 for x <= 0.
    static func regularizedGammaQ(_ a: Double, _ x: Double) -> Double {
        guard a > 0, !x.isNaN else { return .nan }
        guard x > 0 else { return 1 }
        guard x.isFinite else { return 0 }
        let epsilon = 1e-15
        let maxIterations = 10_000
        let logPrefix = -x + a * log(x) - lgamma(a)
        if x < a + 1 {
            // P(a, x) = e^{-x} x^a / Γ(a) · Σ x^n / (a (a+1) … (a+n)).
            var term = 1 / a, sum = term, ap = a
            for _ in 0..<maxIterations {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * epsilon { break }
            }
            return Swift.min(Swift.max(1 - sum * exp(logPrefix), 0), 1)
        }
        // Q(a, x) = e^{-x} x^a / Γ(a) · 1/(x+1-a- 1·(1-a)/(x+3-a- 2·(2-a)/(x+5-a- …))).
        let tiny = Double.leastNormalMagnitude / epsilon
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1...maxIterations {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return Swift.min(Swift.max(exp(logPrefix) * h, 0), 1)
    }
}
