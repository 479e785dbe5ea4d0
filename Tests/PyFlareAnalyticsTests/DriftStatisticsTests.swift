import Foundation
import Testing
@testable import PyFlareAnalytics

/// Drift statistics (PSI and MMD) checked against a straightforward numpy implementation of
/// the same definitions, run on the same deterministic inputs (Python's math.fmod(i * a, 1.0)
/// reproduces `frac` exactly).
@Suite struct DriftStatisticsTests {
    private func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        abs(a - b) <= tolerance * abs(b)
    }

    private func allClose(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-12) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
    }

    /// The fractional part of i·a: low-discrepancy, so the samples are spread out but fixed.
    private func frac(_ i: Int, _ a: Double) -> Double {
        (Double(i) * a).truncatingRemainder(dividingBy: 1)
    }

    private let golden = 0.6180339887498949
    private let plastic1 = 0.7548776662466927, plastic2 = 0.5698402909980532

    /// 200 values spread over [0, 10).
    private var reference: [Double] { (0..<200).map { frac($0, golden) * 10 } }

    /// 2-D points of the R2 sequence for i in `range`, plus `shift`.
    private func points(_ range: Range<Int>, shift: (Double, Double) = (0, 0)) -> [[Double]] {
        range.map { [frac($0, plastic1) + shift.0, frac($0, plastic2) + shift.1] }
    }

    // MARK: Numeric bins

    @Test func binConvention() {
        let bins = NumericBins(edges: [1, 2])
        #expect(bins.count == 3)
        #expect(bins.bin(of: -.infinity) == 0)
        #expect(bins.bin(of: 1) == 0)              // right-closed: an edge belongs to the bin below
        #expect(bins.bin(of: 1.0000001) == 1)
        #expect(bins.bin(of: 2) == 1)
        #expect(bins.bin(of: 3) == 2)
        #expect(bins.bin(of: .infinity) == 2)
        #expect(bins.bin(of: .nan) == nil)
        #expect(bins.counts([0, 1, 1.5, 2, 5, .nan]) == [2, 2, 1])
        #expect(bins.shares([0, 3, .nan, 3]) == [1.0 / 3, 0, 2.0 / 3])
        #expect(bins.shares([]) == [0, 0, 0])
        #expect(NumericBins(edges: []).bin(of: 42) == 0)
    }

    @Test func binsAreReferenceQuantiles() {
        // numpy: sorted reference at index ceil(i·200/10) - 1, i = 1…9.
        let expected = [
            0.9519494249012439, 1.9349550499537571, 2.968210662412787, 3.9512162874653, 4.98447189992433,
            5.9674775249768786, 7.000733137435873, 7.983738762488439, 8.985938174796075,
        ]
        let bins = DriftStatistics.numericBins(reference: reference)
        #expect(bins.edges == expected)
        #expect(bins.counts(reference) == Array(repeating: 20, count: 10))
    }

    @Test func tiedValuesGiveDistinctEdgesAndMergedBins() {
        // Candidate edges 100 ×5, 200, 300 ×2, 400 collapse to 100, 200, 300, 400; the bin above
        // 400 is empty and merges down.
        let tied = Array(repeating: 100.0, count: 150) + Array(repeating: 200.0, count: 50)
            + Array(repeating: 300.0, count: 50) + Array(repeating: 400.0, count: 50)
        let bins = DriftStatistics.numericBins(reference: tied, count: 10, minimumPerBin: 20)
        #expect(bins.edges == [100, 200, 300])
        #expect(bins.counts(tied) == [150, 50, 50, 50])
        // With 60 per bin: 200's bin merges with its smaller neighbour 300, then that merged
        // pair with 400.
        let coarse = DriftStatistics.numericBins(reference: tied, count: 10, minimumPerBin: 60)
        #expect(coarse.edges == [100])
        #expect(coarse.counts(tied) == [150, 150])
    }

    @Test func tokenCountBinsRespectTheMinimum() {
        // Token counts: 60% exactly 100, the rest spread over 50…249 with repeats.
        let tokens = (0..<500).map { (i: Int) -> Double in i % 5 < 3 ? 100 : Double(50 + (i * 37) % 200) }
        for minimum in [1, 20, 45] {
            let bins = DriftStatistics.numericBins(reference: tokens, count: 10, minimumPerBin: minimum)
            #expect(bins.count > 1)
            #expect(zip(bins.edges, bins.edges.dropFirst()).allSatisfy { $0 < $1 }, "edges \(bins.edges)")
            #expect(bins.counts(tokens).allSatisfy { $0 >= minimum }, "counts \(bins.counts(tokens))")
            #expect(bins.edges.contains(100))
        }
    }

    @Test func smallOrEmptyReferenceIsOneBin() {
        #expect(DriftStatistics.numericBins(reference: (0..<10).map(Double.init)).edges.isEmpty)
        #expect(DriftStatistics.numericBins(reference: []).edges.isEmpty)
        #expect(DriftStatistics.numericBins(reference: [.nan, .nan]).edges.isEmpty)
        let result = DriftStatistics.numericPSI(reference: [1, 2, 3], current: [50, 60])
        #expect(result.score == 0)
        #expect(result.referenceShares == [1] && result.currentShares == [1])
    }

    // MARK: PSI

    @Test func sharePSIClampsToEpsilon() {
        // numpy: r, c = np.clip(r, eps, None), np.clip(c, eps, None); np.sum((c - r) * np.log(c / r)).
        #expect(relativelyClose(DriftStatistics.psi(reference: [0.5, 0.5], current: [1, 0]), 4.60431846666895))
        // A bin missing from the reference vector counts as share 0.
        let missing = DriftStatistics.psi(reference: [0.2, 0.3, 0.5], current: [0.25, 0.25, 0.4, 0.1], epsilon: 1e-3)
        #expect(relativelyClose(missing, 0.4984994589496503))
        #expect(DriftStatistics.psi(reference: [0.2, 0.8], current: [0.2, 0.8]) == 0)
    }

    @Test func numericPSIMatchesNumpy() {
        let current = (0..<150).map { frac($0, plastic1) * 10 + 1.5 }
        let result = DriftStatistics.numericPSI(reference: reference, current: current)
        #expect(relativelyClose(result.score, 0.875041487370184))
        #expect(result.edges.count == 9)
        #expect(allClose(result.referenceShares, Array(repeating: 0.1, count: 10)))
        let expectedCurrent = [
            0, 0.04666666666666667, 0.10666666666666667, 0.09333333333333334, 0.1, 0.1,
            0.10666666666666667, 0.1, 0.09333333333333334, 0.25333333333333335,
        ]
        #expect(allClose(result.currentShares, expectedCurrent))
        #expect(result.referenceCount == 200 && result.currentCount == 150)
        #expect(relativelyClose(result.contributions.reduce(0, +), result.score, 1e-12))
        #expect(result.contributions[0] > 0.2)    // the empty first bin, clamped to epsilon
        #expect(result.severity == .significant)
    }

    @Test func identicalSamplesHaveZeroPSI() {
        let result = DriftStatistics.numericPSI(reference: reference, current: reference)
        #expect(result.score == 0)
        #expect(result.severity == .none)
        // Same distribution, different order and size.
        let again = DriftStatistics.numericPSI(reference: reference, current: reference.reversed() + reference)
        #expect(again.score == 0)
    }

    @Test func shiftedSampleIsSignificant() {
        let result = DriftStatistics.numericPSI(reference: reference, current: reference.map { $0 + 3 })
        #expect(relativelyClose(result.score, 2.4876438173252686))
        #expect(result.score > 0.25)
        #expect(DriftStatistics.severity(psi: result.score) == .significant)
    }

    @Test func categoricalPSIMatchesNumpy() {
        let result = DriftStatistics.categoricalPSI(
            reference: ["gpt-4o": 50, "claude": 30, "llama": 20],
            current: ["gpt-4o": 40, "claude": 35, "mistral": 25, "unused": 0])
        #expect(result.categories == ["gpt-4o", "claude", "mistral", "llama"])
        #expect(allClose(result.referenceShares, [0.5, 0.3, 0, 0.2]))
        #expect(allClose(result.currentShares, [0.4, 0.35, 0.25, 0]))
        #expect(relativelyClose(result.score, 3.5046713888982337))
        #expect(result.edges.isEmpty)
        #expect(DriftStatistics.categoricalPSI(reference: ["a": 3, "b": 1], current: ["b": 2, "a": 6]).score == 0)
    }

    @Test func categoricalCapPoolsTheRest() {
        // Totals a 70, b 60, c 45, f 15, d 6, e 4: a, b, c kept; d, e, f pooled.
        let result = DriftStatistics.categoricalPSI(
            reference: ["a": 40, "b": 30, "c": 20, "d": 6, "e": 4],
            current: ["a": 30, "b": 30, "c": 25, "f": 15], maxCategories: 3)
        #expect(result.categories == ["a", "b", "c", DriftStatistics.otherCategory])
        #expect(allClose(result.referenceShares, [0.4, 0.3, 0.2, 0.1]))
        #expect(allClose(result.currentShares, [0.3, 0.3, 0.25, 0.15]))
        #expect(relativelyClose(result.score, 0.06019864021629681))
        #expect(result.severity == .none)
        let uncapped = DriftStatistics.categoricalPSI(
            reference: ["a": 40, "b": 30, "c": 20, "d": 6, "e": 4],
            current: ["a": 30, "b": 30, "c": 25, "f": 15], maxCategories: nil)
        #expect(uncapped.categories == ["a", "b", "c", "f", "d", "e"])
    }

    @Test func severityThresholds() {
        #expect(DriftStatistics.severity(psi: 0) == .none)
        #expect(DriftStatistics.severity(psi: 0.0999) == .none)
        #expect(DriftStatistics.severity(psi: 0.1) == .moderate)
        #expect(DriftStatistics.severity(psi: 0.2499) == .moderate)
        #expect(DriftStatistics.severity(psi: 0.25) == .significant)
        #expect(DriftStatistics.severity(psi: 3) == .significant)
        #expect(DriftStatistics.severity(psi: .nan) == .none)
        #expect(DriftStatistics.severity(psi: 0.15, moderate: 0.05, significant: 0.15) == .significant)
        #expect(DriftSeverity.significant.rawValue == "significant")
    }

    // MARK: MMD

    @Test func mmdMatchesNumpyWithFixedBandwidth() throws {
        // numpy: K = exp(-D / (2σ²)); (ΣKxx - tr)/(m(m-1)) + (ΣKyy - tr)/(n(n-1)) - 2ΣKxy/(mn).
        let x = points(1..<31), y = points(31..<56, shift: (0.3, 0))
        let result = try #require(DriftStatistics.mmdTest(reference: x, current: y, bandwidth: 0.5, permutations: 0))
        #expect(relativelyClose(result.mmd2, 0.14390464223658506))
        #expect(result.bandwidth == 0.5)
        #expect(result.pValue == 1 && result.permutations == 0)
        #expect(result.referenceCount == 30 && result.currentCount == 25)
        #expect(relativelyClose(result.centroidShift, 0.37362703466698527))
        // Scored from the smaller side either way round.
        let swapped = try #require(DriftStatistics.mmdTest(reference: y, current: x, bandwidth: 0.5, permutations: 0))
        #expect(relativelyClose(swapped.mmd2, result.mmd2, 1e-12))
    }

    @Test func mmdMatchesNumpyWithMedianHeuristic() throws {
        // numpy: σ = sqrt(np.median(D[np.triu_indices(55, k=1)]) / 2).
        let x = points(1..<31), y = points(31..<56, shift: (0.3, 0))
        let result = try #require(DriftStatistics.mmdTest(reference: x, current: y, permutations: 0))
        #expect(relativelyClose(result.bandwidth, 0.38377291791025014))
        #expect(relativelyClose(result.mmd2, 0.1277173350173768))
        // An unusable bandwidth falls back to the heuristic.
        let fallback = try #require(DriftStatistics.mmdTest(reference: x, current: y, bandwidth: 0, permutations: 0))
        #expect(fallback.bandwidth == result.bandwidth)
    }

    @Test func constantSampleUsesUnitBandwidth() throws {
        let same = Array(repeating: [1.0, 2.0], count: 5)
        let result = try #require(DriftStatistics.mmdTest(reference: same, current: same, permutations: 20))
        #expect(result.bandwidth == 1)
        #expect(abs(result.mmd2) < 1e-12)
        #expect(result.centroidShift == 0)
    }

    @Test func permutationPValues() throws {
        let x = points(1..<41)
        let same = try #require(DriftStatistics.mmdTest(reference: x, current: points(41..<81)))
        #expect(same.pValue > 0.1)
        #expect(same.permutations == 200)
        let shifted = try #require(DriftStatistics.mmdTest(reference: x, current: points(41..<81, shift: (0.5, 0.5))))
        #expect(shifted.pValue < 0.05)
        #expect(shifted.pValue >= 1.0 / 201)
    }

    @Test func sameSeedSameResult() throws {
        let x = points(1..<41), y = points(41..<81, shift: (0.2, 0))
        let first = try #require(DriftStatistics.mmdTest(reference: x, current: y, seed: 7))
        let second = try #require(DriftStatistics.mmdTest(reference: x, current: y, seed: 7))
        #expect(first == second)
        #expect(first.pValue > 0 && first.pValue <= 1)
    }

    @Test func maxSamplesCapsTheCounts() throws {
        let x = points(1..<301), y = points(301..<421, shift: (0.1, 0))
        let capped = try #require(DriftStatistics.mmdTest(reference: x, current: y, permutations: 10, maxSamples: 50))
        #expect(capped.referenceCount == 50 && capped.currentCount == 50)
        // The centroid shift reads the full samples.
        #expect(capped.centroidShift == DriftStatistics.centroidShift(x, y))
        let again = try #require(DriftStatistics.mmdTest(reference: x, current: y, permutations: 10, maxSamples: 50))
        #expect(capped == again)
        let otherSeed = try #require(
            DriftStatistics.mmdTest(reference: x, current: y, permutations: 10, seed: 1, maxSamples: 50))
        #expect(otherSeed.mmd2 != capped.mmd2)
        let uncapped = try #require(DriftStatistics.mmdTest(reference: x, current: y, permutations: 0, maxSamples: 500))
        #expect(uncapped.referenceCount == 300 && uncapped.currentCount == 120)
    }

    @Test func mmdRejectsUnusableInput() {
        let x = points(1..<10)
        #expect(DriftStatistics.mmdTest(reference: x, current: [[0.5, 0.5]]) == nil)
        #expect(DriftStatistics.mmdTest(reference: [], current: x) == nil)
        #expect(DriftStatistics.mmdTest(reference: x, current: [[1, 2, 3], [4, 5, 6]]) == nil)
        #expect(DriftStatistics.mmdTest(reference: x + [[1]], current: x) == nil)
        #expect(DriftStatistics.mmdTest(reference: x, current: x + [[.nan, 0]]) == nil)
    }

    @Test func centroidShift() {
        #expect(DriftStatistics.centroidShift([[0, 0], [2, 0]], [[4, 3], [4, 5]]) == 5)
        #expect(DriftStatistics.centroidShift([[1, 1]], [[1, 1], [1, 1]]) == 0)
        #expect(DriftStatistics.centroidShift([], [[1, 1]]).isNaN)
        #expect(DriftStatistics.centroidShift([[1, 1]], [[1, 1, 1]]).isNaN)
    }

    @Test func splitMix64ReferenceOutput() {
        // The published SplitMix64 sequence for seed 0.
        var generator = SplitMix64(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(generator.next() == 0x06C4_5D18_8009_454F)
        for bound in [1, 2, 7, 1000] {
            #expect((0..<100).allSatisfy { _ in (0..<bound).contains(generator.nextIndex(below: bound)) })
        }
    }
}
