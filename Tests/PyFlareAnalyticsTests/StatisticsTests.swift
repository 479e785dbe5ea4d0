import Foundation
import Testing
@testable import PyFlareAnalytics

/// The statistics of root-cause analysis, checked against known values (reference values
/// from scipy where noted).
@Suite struct StatisticsTests {
    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        abs(a - b) <= tolerance
    }

    private func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool {
        abs(a - b) <= tolerance * abs(b)
    }

    // MARK: Normal distribution

    @Test func normalTails() {
        #expect(close(Statistics.normalSurvival(1.96), 0.024997895148220435, 1e-12))
        #expect(close(Statistics.normalCDF(1.96), 1 - 0.024997895148220435, 1e-12))
        #expect(close(Statistics.normalCDF(0), 0.5, 1e-15))
        #expect(close(Statistics.normalCDF(-1.96), Statistics.normalSurvival(1.96), 1e-15))
        // Far in the upper tail 1 - CDF would be 0; the survival function keeps its precision.
        #expect(relativelyClose(Statistics.normalSurvival(10), 7.61985302416047e-24, 1e-9))
        #expect(Statistics.twoSidedPValue(-1.96) == Statistics.twoSidedPValue(1.96))
    }

    // MARK: Proportions

    @Test func twoProportions() {
        // z = 0.2 / sqrt(0.2·0.8·(1/100 + 1/100)) = 3.5355; two-sided p = 2·P(Z > z) = 0.000407.
        let test = Statistics.twoProportionTest(successes1: 30, total1: 100, successes2: 10, total2: 100)
        #expect(close(test.z, 3.5355339059327373, 1e-9))
        #expect(relativelyClose(test.pValue, 0.0004069520174449599, 1e-9))
        let reversed = Statistics.twoProportionTest(successes1: 10, total1: 100, successes2: 30, total2: 100)
        #expect(close(reversed.z, -test.z, 1e-12))
        #expect(close(reversed.pValue, test.pValue, 1e-15))
        let equal = Statistics.twoProportionTest(successes1: 5, total1: 50, successes2: 10, total2: 100)
        #expect(close(equal.z, 0) && close(equal.pValue, 1))
    }

    @Test func twoProportionsDegenerate() {
        let empty = Statistics.twoProportionTest(successes1: 0, total1: 0, successes2: 3, total2: 10)
        #expect(empty.z == 0 && empty.pValue == 1)
        let none = Statistics.twoProportionTest(successes1: 0, total1: 10, successes2: 0, total2: 10)
        #expect(none.z == 0 && none.pValue == 1)
        let all = Statistics.twoProportionTest(successes1: 10, total1: 10, successes2: 20, total2: 20)
        #expect(all.z == 0 && all.pValue == 1)
    }

    // MARK: Binned distributions

    @Test func binnedDistributionArithmetic() {
        var whole = BinnedDistribution(bins: 4)
        whole.add(bin: 0)
        whole.add(bin: 2, count: 5)
        whole.add(bin: 9, count: 2)   // clamped into the last bin
        whole.add(bin: -1)            // clamped into bin 0
        #expect(whole.counts == [2, 0, 5, 2])
        #expect(whole.total == 9)

        var part = BinnedDistribution(bins: 4)
        part.add(bin: 2, count: 3)
        part.add(bin: 3)
        #expect((whole - part).counts == [2, 0, 2, 1])
        #expect(whole.subtracting(part) == whole - part)
        #expect((part - whole).counts == [0, 0, 0, 0])

        var merged = whole - part
        merged.merge(part)
        #expect(merged == whole)
        #expect(part.merging(BinnedDistribution(counts: [1, 1, 1, 1, 1])).counts == [1, 1, 4, 2, 1])
    }

    @Test func logBins() {
        let minimum = 1.0, growth = 2.0
        #expect(BinnedDistribution.logBin(0.5, bins: 10, minimum: minimum, growth: growth) == 0)
        #expect(BinnedDistribution.logBin(1, bins: 10, minimum: minimum, growth: growth) == 0)
        #expect(BinnedDistribution.logBin(-3, bins: 10, minimum: minimum, growth: growth) == 0)
        #expect(BinnedDistribution.logBin(.nan, bins: 10, minimum: minimum, growth: growth) == 0)
        #expect(BinnedDistribution.logBin(1.5, bins: 10, minimum: minimum, growth: growth) == 1)
        #expect(BinnedDistribution.logBin(3, bins: 10, minimum: minimum, growth: growth) == 2)
        #expect(BinnedDistribution.logBin(5, bins: 10, minimum: minimum, growth: growth) == 3)
        #expect(BinnedDistribution.logBin(1e12, bins: 10, minimum: minimum, growth: growth) == 9)
        #expect(BinnedDistribution.logBin(.infinity, bins: 10, minimum: minimum, growth: growth) == 9)
    }

    @Test func logBinQuantileRoundTrip() {
        let minimum = 0.001, growth = 1.25, bins = 80
        for value in [0.0013, 0.01, 0.2, 1, 7.5, 42, 300] {
            var distribution = BinnedDistribution(bins: bins)
            distribution.add(bin: BinnedDistribution.logBin(value, bins: bins, minimum: minimum, growth: growth))
            let back = distribution.quantile(0.5, minimum: minimum, growth: growth)
            #expect(back / value < growth && value / back < growth, "\(value) came back as \(back)")
        }
    }

    @Test func quantiles() {
        // Bins 0...3 with minimum 1, growth 2: midpoints 1, √2, 2√2, 4√2.
        let distribution = BinnedDistribution(counts: [10, 40, 40, 10])
        #expect(distribution.quantile(0.05, minimum: 1, growth: 2) == 1)
        #expect(close(distribution.quantile(0.5, minimum: 1, growth: 2), 2.0.squareRoot()))
        #expect(close(distribution.quantile(0.51, minimum: 1, growth: 2), 2 * 2.0.squareRoot()))
        #expect(close(distribution.quantile(0.99, minimum: 1, growth: 2), 4 * 2.0.squareRoot()))
        #expect(close(distribution.quantile(1, minimum: 1, growth: 2), 4 * 2.0.squareRoot()))
        // q = 0 is the first non-empty bin, not bin 0.
        #expect(close(BinnedDistribution(counts: [0, 0, 3]).quantile(0, minimum: 1, growth: 2), 2 * 2.0.squareRoot()))
        #expect(BinnedDistribution(bins: 5).quantile(0.5, minimum: 1, growth: 2).isNaN)
    }

    // MARK: Mann–Whitney

    @Test func mannWhitneyIdentical() {
        let a = BinnedDistribution(counts: [3, 10, 20, 7, 1])
        let result = Statistics.mannWhitney(a, a)
        #expect(close(result.z, 0, 1e-12))
        #expect(close(result.pValue, 1, 1e-12))
        #expect(close(result.probabilityAGreater, 0.5, 1e-12))
    }

    @Test func mannWhitneyShifted() {
        let slow = BinnedDistribution(counts: [0, 0, 0, 5, 40, 50, 5])
        let fast = BinnedDistribution(counts: [5, 50, 40, 5, 0, 0, 0])
        let result = Statistics.mannWhitney(slow, fast)
        #expect(result.z > 8)
        #expect(result.pValue < 1e-15)
        #expect(result.probabilityAGreater > 0.99)
        let reversed = Statistics.mannWhitney(fast, slow)
        #expect(close(reversed.z, -result.z, 1e-9))
        #expect(close(reversed.probabilityAGreater, 1 - result.probabilityAGreater, 1e-12))
    }

    @Test func mannWhitneyHandChecked() {
        // One value each, a above b: U_a = 1 of 1 pair; var = 1·1/12·3 = 0.25, z = 0.5/0.5 = 1.
        var a = BinnedDistribution(bins: 3)
        a.add(bin: 2)
        var b = BinnedDistribution(bins: 3)
        b.add(bin: 0)
        let result = Statistics.mannWhitney(a, b)
        #expect(result.probabilityAGreater == 1)
        #expect(close(result.z, 1, 1e-12))
        #expect(close(result.pValue, 0.31731050786291415, 1e-12))
    }

    @Test func mannWhitneyWithTies() {
        // scipy.stats.mannwhitneyu([0,1,1,2,2,2], [1,2,2,3,3,3,3], use_continuity=False,
        // method='asymptotic'): U = 7, p = 0.03568444214021265.
        let a = BinnedDistribution(counts: [1, 2, 3, 0])
        let b = BinnedDistribution(counts: [0, 1, 2, 4])
        let result = Statistics.mannWhitney(a, b)
        #expect(close(result.probabilityAGreater, 7.0 / 42, 1e-12))
        #expect(result.z < 0)
        #expect(relativelyClose(result.pValue, 0.03568444214021265, 1e-9))
        // scipy: [5]*50 against [0]*50 gives p = 2.5250176624027388e-23.
        let all = Statistics.mannWhitney(BinnedDistribution(counts: [0, 50]), BinnedDistribution(counts: [50, 0]))
        #expect(relativelyClose(all.pValue, 2.5250176624027388e-23, 1e-6))
        #expect(all.probabilityAGreater == 1)
    }

    @Test func mannWhitneyDegenerate() {
        let empty = Statistics.mannWhitney(BinnedDistribution(bins: 3), BinnedDistribution(counts: [1, 2, 3]))
        #expect(empty.z == 0 && empty.pValue == 1 && empty.probabilityAGreater == 0.5)
        // Every value in one bin: all ties, variance 0.
        let tied = Statistics.mannWhitney(BinnedDistribution(counts: [0, 7, 0]), BinnedDistribution(counts: [0, 1000, 0]))
        #expect(tied.z == 0 && tied.pValue == 1 && tied.probabilityAGreater == 0.5)
    }

    // MARK: Benjamini–Hochberg

    @Test func benjaminiHochberg() {
        let adjusted = Statistics.benjaminiHochberg([0.01, 0.04, 0.03, 0.005])
        let expected = [0.02, 0.04, 0.04, 0.02]
        #expect(adjusted.count == 4)
        for (got, want) in zip(adjusted, expected) { #expect(close(got, want, 1e-12)) }
        #expect(Statistics.benjaminiHochberg([]) == [])
        for got in Statistics.benjaminiHochberg([0.9, 0.8, 0.7]) { #expect(close(got, 0.9, 1e-12)) }
        let capped = Statistics.benjaminiHochberg([0.6, 0.7, .nan])
        #expect(capped == [1, 1, 1])
    }

    // MARK: Robust location and scale

    @Test func medianAndMAD() {
        #expect(Statistics.median([1, 2, 3, 4, 100]) == 3)
        #expect(Statistics.medianAbsoluteDeviation([1, 2, 3, 4, 100]) == 1)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.median([]).isNaN)
        #expect(Statistics.medianAbsoluteDeviation([]).isNaN)
    }

    @Test func robustZ() {
        // median 3, MAD 1: (10 - 3) / 1.4826.
        #expect(close(Statistics.robustZ(10, history: [1, 2, 3, 4, 100], floor: 0.1), 7 / 1.4826, 1e-12))
        // A constant history has MAD 0: the floor takes over.
        #expect(Statistics.robustZ(7, history: [5, 5, 5, 5], floor: 0.5) == 4)
        #expect(Statistics.robustZ(7, history: [], floor: 0.5).isNaN)
    }

    // MARK: Trends

    @Test func mannKendallIncreasing() {
        // n = 10, S = 45, var = 10·9·25/18 = 125, z = 44/√125 = 3.9355.
        let result = Statistics.mannKendall((1...10).map(Double.init))
        #expect(result.s == 45)
        #expect(close(result.z, 3.9354796403996297, 1e-9))
        #expect(result.pValue < 0.001)
        #expect(relativelyClose(result.pValue, 4.1515351663224993e-05, 1e-6))
    }

    @Test func mannKendallWithTies() {
        // x = [3,1,4,1,5,9,2,6,5,3,5]: S = 16, tie-corrected var = 159.333…, z = 15/√var.
        let result = Statistics.mannKendall([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
        #expect(result.s == 16)
        #expect(close(result.z, 1.188332399294654, 1e-9))
        #expect(relativelyClose(result.pValue, 0.11735123897758035, 1e-6))
    }

    @Test func mannKendallFlatDecreasingShort() {
        let flat = Statistics.mannKendall(Array(repeating: 4, count: 20))
        #expect(flat.s == 0 && flat.pValue >= 0.5)
        let decreasing = Statistics.mannKendall((1...10).reversed().map(Double.init))
        #expect(decreasing.s == -45 && decreasing.z < 0 && decreasing.pValue > 0.999)
        let short = Statistics.mannKendall([1, 2, 3])
        #expect(short.s == 0 && short.z == 0 && short.pValue == 1)
    }

    @Test func theilSen() {
        #expect(close(Statistics.theilSenSlope((0..<12).map { 2 * Double($0) + 1 }), 2, 1e-12))
        // Robust to an outlier: scipy.stats.theilslopes([3,1,4,1,5,9,2,6,5,3,5]).slope = 0.25.
        #expect(close(Statistics.theilSenSlope([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]), 0.25, 1e-12))
        #expect(close(Statistics.theilSenSlope([0, 1, 2, 3, 1000, 5, 6]), 1, 1e-12))
        #expect(Statistics.theilSenSlope([1]).isNaN)
    }

    @Test func cusum() {
        #expect(Statistics.cusumChangePoint([1, 1, 1, 1, 5, 5, 5]) == 4)
        #expect(Statistics.cusumChangePoint([2, 1, 2, 1, 2, 9, 8, 9, 10]) == 5)
        #expect(Statistics.cusumChangePoint([3, 3, 3, 3, 3]) == nil)
        #expect(Statistics.cusumChangePoint([1, 5, 5]) == nil)
        // A downward shift is no upward one.
        #expect(Statistics.cusumChangePoint([5, 5, 5, 1, 1, 1, 1]) == nil)
    }

    // MARK: Goodness of fit

    @Test func regularizedGammaQ() {
        #expect(relativelyClose(Statistics.regularizedGammaQ(1, 2), exp(-2), 1e-12))
        // scipy.special.gammaincc.
        #expect(relativelyClose(Statistics.regularizedGammaQ(2.5, 3), 0.30621891841327875, 1e-10))
        #expect(relativelyClose(Statistics.regularizedGammaQ(0.5, 0.1), 0.6547208460185768, 1e-10))
        #expect(relativelyClose(Statistics.regularizedGammaQ(3, 1), 0.9196986029286058, 1e-10))
        #expect(relativelyClose(Statistics.regularizedGammaQ(10, 30), 7.121750862815593e-06, 1e-8))
        #expect(Statistics.regularizedGammaQ(2, 0) == 1)
        #expect(Statistics.regularizedGammaQ(0, 1).isNaN)
    }

    @Test func chiSquare() {
        let uniform = Statistics.chiSquareUniformity(observed: [25, 25, 25, 25], expectedShares: [1, 1, 1, 1])
        #expect(uniform.statistic == 0 && uniform.degreesOfFreedom == 3)
        #expect(uniform.pValue > 0.999)

        let skewed = Statistics.chiSquareUniformity(observed: [100, 0, 0, 0], expectedShares: [1, 1, 1, 1])
        #expect(close(skewed.statistic, 300, 1e-9))
        #expect(skewed.pValue < 1e-10)
        #expect(relativelyClose(skewed.pValue, 9.948758346327588e-65, 1e-6))   // scipy chi2.sf(300, 3)

        // scipy.stats.chisquare([30, 20, 25, 25]): statistic 2, p = 0.5724067044708798.
        let mild = Statistics.chiSquareUniformity(observed: [30, 20, 25, 25], expectedShares: [0.25, 0.25, 0.25, 0.25])
        #expect(close(mild.statistic, 2, 1e-12))
        #expect(relativelyClose(mild.pValue, 0.5724067044708798, 1e-9))

        // Unequal shares, one zero-share cell skipped: df = 2, p = exp(-1).
        let shares = Statistics.chiSquareUniformity(observed: [50, 30, 0, 20], expectedShares: [2, 1, 0, 1])
        #expect(shares.degreesOfFreedom == 2)
        #expect(close(shares.statistic, 2, 1e-12))
        #expect(relativelyClose(shares.pValue, exp(-1), 1e-9))

        let nothing = Statistics.chiSquareUniformity(observed: [0, 0], expectedShares: [1, 1])
        #expect(nothing.pValue == 1)
    }
}
