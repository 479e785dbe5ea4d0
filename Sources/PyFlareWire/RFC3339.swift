/// Unix nanoseconds as RFC 3339 text in UTC with milliseconds (`2026-11-22T03:21:48.123Z`),
/// computed exactly from the integer (no `Double`, no Foundation): the text form the API
/// and the JSON-lines exporter give next to every `…_unix_nano` number.
public enum RFC3339 {
    /// Bytes of the text: `YYYY-MM-DDTHH:MM:SS.mmmZ` (a UInt64 of nanoseconds ends in 2554).
    public static let length = 24

    public static func string(_ nanoseconds: UInt64) -> String {
        String(unsafeUninitializedCapacity: length) { write(nanoseconds, into: $0) }
    }

    /// Appends the text to `bytes`; digit by digit, since a response may hold tens of thousands.
    public static func append(_ nanoseconds: UInt64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            bytes.append(contentsOf: buffer[..<write(nanoseconds, into: buffer)])
        }
    }

    private static func write(_ nanoseconds: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let seconds = nanoseconds / 1_000_000_000
        let milliseconds = Int(nanoseconds / 1_000_000 % 1000)
        let (year, month, day) = civilDate(daysSinceEpoch: Int(seconds / 86_400))
        let secondOfDay = Int(seconds % 86_400)
        var position = 0
        func digits(_ value: Int, _ count: Int) {
            var value = value
            for index in stride(from: position + count - 1, through: position, by: -1) {
                buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            position += count
        }
        func mark(_ character: Unicode.Scalar) {
            buffer[position] = UInt8(ascii: character)
            position += 1
        }
        digits(year, 4); mark("-"); digits(month, 2); mark("-"); digits(day, 2); mark("T")
        digits(secondOfDay / 3600, 2); mark(":"); digits(secondOfDay / 60 % 60, 2); mark(":"); digits(secondOfDay % 60, 2)
        mark("."); digits(milliseconds, 3); mark("Z")
        return position
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`, for non-negative counts).
    static func civilDate(daysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
