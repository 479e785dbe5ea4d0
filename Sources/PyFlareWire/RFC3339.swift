/// Unix nanoseconds as RFC 3339 text in UTC with milliseconds (`2026-11-22T03:21:48.123Z`),
/// computed exactly from the integer (no `Double`, no Foundation): the text form the API
/// and the JSON-lines exporter give next to every `…_unix_nano` number.
public enum RFC3339 {
    public static func string(_ nanoseconds: UInt64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        let milliseconds = Int(nanoseconds / 1_000_000 % 1000)
        let (year, month, day) = civilDate(daysSinceEpoch: Int(seconds / 86_400))
        let secondOfDay = Int(seconds % 86_400)
        func digits(_ value: Int, _ count: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, count - text.count)) + text
        }
        return "\(digits(year, 4))-\(digits(month, 2))-\(digits(day, 2))T\(digits(secondOfDay / 3600, 2)):"
            + "\(digits(secondOfDay / 60 % 60, 2)):\(digits(secondOfDay % 60, 2)).\(digits(milliseconds, 3))Z"
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
