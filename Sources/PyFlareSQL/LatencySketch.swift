import Foundation
import PyFlareStore

/// A mergeable sketch of durations in integer nanoseconds, from which quantiles are read to
/// within 1% (DDSketch: Masson, Rim and Lee, VLDB 2019).
///
/// A value v > 0 is counted in bucket k = ⌈log_γ v⌉ with γ = (1 + α)/(1 − α) and α = 0.01;
/// every value of bucket k, in (γ^(k−1), γ^k], lies within α of 2γ^k/(γ + 1), the estimate a
/// quantile falling in that bucket returns. Values ≤ 0 have a count of their own. The exact
/// count, minimum and maximum are kept too.
///
/// All of 1 ns to `Int64.max` takes 2,185 buckets, and 1 µs to 1 minute about 900, so buckets
/// are never collapsed: merging is exact and order-independent, and the sketch of a whole
/// equals the merge of the sketches of its parts, serialized bytes included.
///
/// `quantile(q)` takes the value of rank ⌊q·(count − 1)⌋ of the sorted values (DDSketch's
/// lower rank) and returns its bucket's estimate rounded to whole nanoseconds and clamped
/// into [minimum, maximum]: within 1% of that value, plus half a nanosecond of rounding.
/// q = 0 and q = 1 return the exact minimum and maximum.
///
/// ``serialized()`` is canonical (equal sketches, equal bytes), version 1:
///
///     byte    format version, 1
///     varint  count of values
///     zigzag  minimum (0 when empty)
///     zigzag  maximum (0 when empty)
///     varint  count of values ≤ 0
///     varint  number of buckets
///     per bucket, by ascending key:
///       zigzag  key minus the previous bucket's key (the first one's minus 0)
///       varint  count of values, at least 1
///
/// A varint is unsigned LEB128 of minimal length (7 bits a byte, low bits first, the high
/// bit set on all bytes but the last); a zigzag is the varint of (n << 1) ^ (n >> 63). The
/// empty sketch is the 6 bytes `01 00 00 00 00 00`.
public struct LatencySketch: Sendable, Equatable {
    /// α: a quantile's bucket estimate is within this fraction of the exact value.
    public static let relativeAccuracy = 0.01
    static let formatVersion: UInt8 = 1
    private static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    private static let logGamma = log(gamma)

    public private(set) var count: Int64 = 0
    /// Count of values ≤ 0, which have no logarithm.
    private var zeroCount: Int64 = 0
    /// Exact extremes; both 0 while empty, so that equal sketches compare (and serialize) equal.
    private var lowest: Int64 = 0
    private var highest: Int64 = 0
    /// Bucket keys, strictly ascending, and the count of each (at least 1).
    private var keys: [Int] = []
    private var bucketCounts: [Int64] = []

    public init() {}

    /// The smallest value added, nil while empty.
    public var minimum: Int64? { count > 0 ? lowest : nil }
    /// The largest value added, nil while empty.
    public var maximum: Int64? { count > 0 ? highest : nil }

    public mutating func add(_ nanoseconds: Int64) {
        if count == 0 {
            lowest = nanoseconds
            highest = nanoseconds
        } else {
            lowest = Swift.min(lowest, nanoseconds)
            highest = Swift.max(highest, nanoseconds)
        }
        count = Self.sum(count, 1)
        guard nanoseconds > 0 else {
            zeroCount = Self.sum(zeroCount, 1)
            return
        }
        let key = Int((log(Double(nanoseconds)) / Self.logGamma).rounded(.up))
        // Binary search for the first key ≥ `key`.
        var lower = 0, upper = keys.count
        while lower < upper {
            let middle = (lower + upper) / 2
            if keys[middle] < key { lower = middle + 1 } else { upper = middle }
        }
        if lower < keys.count, keys[lower] == key {
            bucketCounts[lower] = Self.sum(bucketCounts[lower], 1)
        } else {
            keys.insert(key, at: lower)
            bucketCounts.insert(1, at: lower)
        }
    }

    /// Adds every value of `other`, exactly: buckets with the same key add their counts.
    public mutating func merge(_ other: LatencySketch) {
        guard other.count > 0 else { return }
        guard count > 0 else {
            self = other
            return
        }
        count = Self.sum(count, other.count)
        zeroCount = Self.sum(zeroCount, other.zeroCount)
        lowest = Swift.min(lowest, other.lowest)
        highest = Swift.max(highest, other.highest)
        var mergedKeys: [Int] = [], mergedCounts: [Int64] = []
        mergedKeys.reserveCapacity(keys.count + other.keys.count)
        mergedCounts.reserveCapacity(keys.count + other.keys.count)
        var mine = 0, theirs = 0
        while mine < keys.count || theirs < other.keys.count {
            if theirs == other.keys.count || (mine < keys.count && keys[mine] < other.keys[theirs]) {
                mergedKeys.append(keys[mine])
                mergedCounts.append(bucketCounts[mine])
                mine += 1
            } else if mine == keys.count || other.keys[theirs] < keys[mine] {
                mergedKeys.append(other.keys[theirs])
                mergedCounts.append(other.bucketCounts[theirs])
                theirs += 1
            } else {
                mergedKeys.append(keys[mine])
                mergedCounts.append(Self.sum(bucketCounts[mine], other.bucketCounts[theirs]))
                mine += 1
                theirs += 1
            }
        }
        keys = mergedKeys
        bucketCounts = mergedCounts
    }

    /// The estimated value of quantile `q` (0 the minimum, 0.5 the median, 1 the maximum); nil
    /// when the sketch is empty or `q` is not within 0...1.
    public func quantile(_ q: Double) -> Int64? {
        guard count > 0, q >= 0, q <= 1 else { return nil }
        if q == 0 { return lowest }
        if q == 1 { return highest }
        let rank = q * Double(count - 1)
        var seen = zeroCount
        if Double(seen) > rank { return clamped(0) }
        for (key, bucketCount) in zip(keys, bucketCounts) {
            seen = Self.sum(seen, bucketCount)
            if Double(seen) > rank { return clamped(2 * pow(Self.gamma, Double(key)) / (Self.gamma + 1)) }
        }
        // Only counts that saturated (see `sum`) disagree with the buckets enough to get here.
        return highest
    }

    /// `estimate` rounded to whole nanoseconds within [minimum, maximum], where the exact value lies.
    private func clamped(_ estimate: Double) -> Int64 {
        let rounded = estimate.rounded()
        guard rounded < 0x1p63 else { return highest }
        return Swift.min(Swift.max(Int64(rounded), lowest), highest)
    }

    /// Counts saturate instead of trapping: no real data gets near `Int64.max`, but a forged
    /// blob merged with itself in SQL would, and must not bring the server down.
    private static func sum(_ first: Int64, _ second: Int64) -> Int64 {
        let (total, overflow) = first.addingReportingOverflow(second)
        return overflow ? .max : total
    }

    /// The canonical binary form described on the type.
    public func serialized() -> [UInt8] {
        var writer = ByteWriter(capacity: 16 + 4 * keys.count)
        writer.byte(Self.formatVersion)
        writer.varint(UInt64(count))
        writer.zigzag(lowest)
        writer.zigzag(highest)
        writer.varint(UInt64(zeroCount))
        writer.varint(keys.count)
        var previous = 0
        for (key, bucketCount) in zip(keys, bucketCounts) {
            writer.zigzag(Int64(key - previous))
            writer.varint(UInt64(bucketCount))
            previous = key
        }
        return writer.bytes
    }

    /// Reads what ``serialized()`` wrote, accepting only its canonical form: a known version,
    /// minimal varints, ascending keys, counts that add up, and nothing after the last bucket.
    public init(serialized bytes: some Collection<UInt8>) throws(LatencySketchError) {
        var reader = Reader(bytes.makeIterator())
        guard let version = reader.byte() else { throw LatencySketchError("no bytes (not even the format version)") }
        guard version == Self.formatVersion else {
            throw LatencySketchError("unknown format version \(version) (this build reads version \(Self.formatVersion))")
        }
        count = try reader.count("count")
        lowest = Self.unzigzag(try reader.varint("minimum"))
        highest = Self.unzigzag(try reader.varint("maximum"))
        zeroCount = try reader.count("count of values ≤ 0")
        let buckets = try reader.varint("number of buckets")
        var total = zeroCount
        var key = 0
        for index in 0..<buckets {
            let (next, overflow) = key.addingReportingOverflow(Int(Self.unzigzag(try reader.varint("key of bucket \(index)"))))
            guard !overflow, index == 0 || next > key else {
                throw LatencySketchError("bucket keys are not strictly ascending at bucket \(index)")
            }
            key = next
            let bucketCount = try reader.count("count of bucket \(index)")
            guard bucketCount > 0 else { throw LatencySketchError("bucket \(index) has a count of 0") }
            keys.append(key)
            bucketCounts.append(bucketCount)
            total = Self.sum(total, bucketCount)
        }
        guard reader.byte() == nil else {
            throw LatencySketchError("trailing bytes after the last bucket, from byte \(reader.offset - 1)")
        }
        guard total == count else {
            throw LatencySketchError("the count \(count) is not the sum of the buckets and values ≤ 0, \(total)")
        }
        let consistent = count == 0
            ? lowest == 0 && highest == 0
            : lowest <= highest && (zeroCount > 0) == (lowest <= 0) && keys.isEmpty == (highest <= 0)
        guard consistent else {
            throw LatencySketchError("the minimum \(lowest) and maximum \(highest) disagree with the counts")
        }
    }

    private static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// Reads bytes one at a time, so any collection is read in place.
    private struct Reader<Bytes: IteratorProtocol<UInt8>> {
        var bytes: Bytes
        /// Bytes read so far.
        var offset = 0

        init(_ bytes: Bytes) {
            self.bytes = bytes
        }

        mutating func byte() -> UInt8? {
            guard let byte = bytes.next() else { return nil }
            offset += 1
            return byte
        }

        /// A minimal varint; `field` names it in errors.
        mutating func varint(_ field: String) throws(LatencySketchError) -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard let byte = byte() else { throw LatencySketchError("truncated in the \(field), at byte \(offset)") }
                let bits = UInt64(byte & 0x7F)
                guard shift < 63 || bits <= 1 else { throw LatencySketchError("the \(field) overflows 64 bits") }
                value |= bits << UInt64(shift)
                guard byte & 0x80 != 0 else {
                    guard byte != 0 || shift == 0 else { throw LatencySketchError("the \(field) is an overlong varint") }
                    return value
                }
            }
            throw LatencySketchError("the \(field) overflows 64 bits")
        }

        /// A varint that must fit an `Int64`.
        mutating func count(_ field: String) throws(LatencySketchError) -> Int64 {
            let value = try varint(field)
            guard let count = Int64(exactly: value) else { throw LatencySketchError("the \(field) \(value) is out of range") }
            return count
        }
    }
}

/// Bytes that are not a serialized ``LatencySketch``.
public struct LatencySketchError: Error, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "invalid latency sketch: \(message)" }
}
