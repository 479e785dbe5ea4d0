import Foundation
import PyFlareWire

/// When a job runs, in UTC. ``parse(_:)`` reads:
/// - `every <n><unit>`, unit `s`, `m`, `h` or `d` (`every 30s`, `every 5m`, `every 1d`): at
///   the multiples of the interval since the unix epoch, so `every 1h` runs on the hour and
///   `every 1d` at midnight.
/// - a five-field cron expression, `minute hour day-of-month month day-of-week`, as in Vixie
///   cron (see ``CronExpression``), or one of `@hourly`, `@daily` (`@midnight`), `@weekly`,
///   `@monthly` and `@yearly` (`@annually`).
///
/// Depends on Foundation only, so it can move to whichever module runs the jobs.
public enum JobSchedule: Sendable, Equatable, CustomStringConvertible {
    /// Every `seconds`, aligned on the epoch; `seconds` is positive and at most `maxIntervalSeconds`.
    case every(seconds: Int64)
    case cron(CronExpression)

    /// The longest interval whose nanoseconds fit an `Int64` (292 years).
    public static let maxIntervalSeconds = Int64.max / 1_000_000_000
    private static let units: [(suffix: Character, seconds: Int64)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]

    public static func parse(_ text: String) throws(ScheduleError) -> JobSchedule {
        let words = text.lowercased().split(whereSeparator: \.isWhitespace)
        guard let first = words.first else {
            throw ScheduleError("the schedule is empty; use an interval such as 'every 5m', a cron expression such as '*/15 * * * *', or @hourly, @daily, @weekly, @monthly or @yearly")
        }
        guard first == "every" else { return .cron(try CronExpression(parsing: text)) }
        guard words.count == 2, let interval = words.last, let unit = interval.last else {
            throw ScheduleError("'every' takes one interval, such as 30s, 5m, 2h or 1d")
        }
        let digits = interval.dropLast()
        guard let size = units.first(where: { $0.suffix == unit })?.seconds, !digits.isEmpty,
              digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ScheduleError("interval '\(interval)' is not a whole number of seconds, minutes, hours or days (such as 30s, 5m, 2h or 1d)")
        }
        guard let count = Int64(digits), count <= maxIntervalSeconds / size else {
            throw ScheduleError("interval '\(interval)' is longer than the longest, \(maxIntervalSeconds)s")
        }
        guard count > 0 else { throw ScheduleError("interval '\(interval)' is shorter than the shortest, 1s") }
        return .every(seconds: count * size)
    }

    /// The first run strictly after `nanoseconds` (unix time), in unix nanoseconds; `Int64.max`
    /// when it is later than an `Int64` of nanoseconds reaches (the year 2262).
    public func nextRun(after nanoseconds: Int64) -> Int64 {
        switch self {
        case .every(let seconds):
            precondition(seconds > 0 && seconds <= Self.maxIntervalSeconds, "every(seconds: \(seconds)) is out of range")
            let interval = seconds * 1_000_000_000
            let (next, overflow) = (TimeBucket.floor(nanoseconds, interval) / interval + 1).multipliedReportingOverflow(by: interval)
            return overflow ? .max : next
        case .cron(let expression):
            // Minutes since the epoch of the first whole minute after `nanoseconds`.
            let minute = expression.firstMatch(from: TimeBucket.floor(nanoseconds, UnixTime.minute) / UnixTime.minute + 1)
            let (next, overflow) = (minute ?? .max).multipliedReportingOverflow(by: UnixTime.minute)
            return overflow ? .max : next
        }
    }

    /// `every` with the largest unit that divides the interval, or the cron text.
    public var description: String {
        switch self {
        case .every(let seconds):
            let unit = Self.units.first { seconds % $0.seconds == 0 }!
            return "every \(seconds / unit.seconds)\(unit.suffix)"
        case .cron(let expression):
            return expression.description
        }
    }
}

/// A cron schedule in UTC, with Vixie cron's fields and rules:
/// - `minute` 0-59, `hour` 0-23, `day-of-month` 1-31, `month` 1-12 or `jan`-`dec`,
///   `day-of-week` 0-7 or `sun`-`sat`, where both 0 and 7 are Sunday; names in any case.
/// - each field a comma-separated list of `*`, `a`, `a-b`, `*/n` or `a-b/n` (every n-th
///   value from the start of the range).
/// - when both day fields are restricted, a day runs when either matches (`0 0 1 * mon`:
///   the 1st and every Monday); when either starts with `*` (`*/2` too, as Vixie cron
///   reads it), a day must match both.
///
/// An expression that matches no date (`0 0 31 2 *`) is refused: a runnable one matches
/// within every 400 years, the period of the Gregorian calendar and its weekdays.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The text, lowercased, its fields separated by one space.
    public let description: String
    /// Bit v is set when value v matches.
    private let minutes, hours, daysOfMonth, months, daysOfWeek: UInt64
    /// Whether a day matching either day field runs (both restricted), rather than both.
    private let eitherDayField: Bool

    private static let shorthands: [String: String] = [
        "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
    ]
    /// Days in 400 Gregorian years, a whole number of weeks: dates and weekdays repeat after it.
    private static let cycleDays: Int64 = 146_097

    public init(parsing text: String) throws(ScheduleError) {
        let normalized = text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        var expanded = normalized
        if normalized.hasPrefix("@") {
            guard let fields = Self.shorthands[normalized] else {
                throw ScheduleError("unknown schedule '\(normalized)'; the shorthands are @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually")
            }
            expanded = fields
        }
        let fields = expanded.split(separator: " ")
        guard fields.count == 5 else {
            throw ScheduleError("'\(normalized)' has \(fields.count) field\(fields.count == 1 ? "" : "s"); a cron expression has 5: minute hour day-of-month month day-of-week")
        }
        description = normalized
        minutes = try CronField.minute.parse(fields[0])
        hours = try CronField.hour.parse(fields[1])
        daysOfMonth = try CronField.dayOfMonth.parse(fields[2])
        months = try CronField.month.parse(fields[3])
        let weekdays = try CronField.dayOfWeek.parse(fields[4])
        daysOfWeek = weekdays & 0x7F | weekdays >> 7   // 7 is Sunday, 0
        eitherDayField = !fields[2].hasPrefix("*") && !fields[4].hasPrefix("*")
        guard firstMatch(from: 0) != nil else {
            throw ScheduleError("'\(normalized)' never runs: no date has day-of-month '\(fields[2])' in month '\(fields[3])'\(eitherDayField ? "" : " on day-of-week '\(fields[4])'")")
        }
    }

    /// The first matching minute at or after `minute` (both in minutes since the epoch), nil
    /// when none is within a 400-year cycle, which means never.
    func firstMatch(from minute: Int64) -> Int64? {
        var day = TimeBucket.floor(minute, 1_440) / 1_440
        var minuteOfDay = Int(minute - day * 1_440)
        var date = CivilDate(daysSinceEpoch: day)
        // The first day may be partly over: one more than the cycle.
        for _ in 0...Self.cycleDays {
            if runs(on: date), let time = firstTime(from: minuteOfDay) { return day * 1_440 + Int64(time) }
            day += 1
            date.advance()
            minuteOfDay = 0
        }
        return nil
    }

    private func runs(on date: CivilDate) -> Bool {
        guard months & 1 << date.month != 0 else { return false }
        let dayOfMonth = daysOfMonth & 1 << date.day != 0, dayOfWeek = daysOfWeek & 1 << date.weekday != 0
        return eitherDayField ? dayOfMonth || dayOfWeek : dayOfMonth && dayOfWeek
    }

    /// The first matching minute of a day at or after `minuteOfDay`.
    private func firstTime(from minuteOfDay: Int) -> Int? {
        var minute = minuteOfDay % 60
        for hour in minuteOfDay / 60..<24 {
            let later = minutes & ~0 << minute
            if hours & 1 << hour != 0, later != 0 { return hour * 60 + later.trailingZeroBitCount }
            minute = 0
        }
        return nil
    }
}

/// A field of a cron expression: its name in errors, its range and its names.
private struct CronField {
    let name: String
    let bounds: ClosedRange<Int>
    /// Names of the values from the lowest named one on.
    var names: [Substring] = []
    var firstNamed = 0

    static let minute = CronField(name: "minute", bounds: 0...59)
    static let hour = CronField(name: "hour", bounds: 0...23)
    static let dayOfMonth = CronField(name: "day-of-month", bounds: 1...31)
    static let month = CronField(name: "month", bounds: 1...12,
                                 names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], firstNamed: 1)
    static let dayOfWeek = CronField(name: "day-of-week", bounds: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])

    /// The values of `text` as bits, bit v for value v.
    func parse(_ text: Substring) throws(ScheduleError) -> UInt64 {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw ScheduleError("\(name) field '\(item)' has more than one '/'") }
            var step = 1
            if parts.count == 2 {
                guard let number = Self.number(parts[1]), number >= 1 else {
                    throw ScheduleError("\(name) field '\(item)' has step '\(parts[1])'; a step is a whole number from 1")
                }
                step = number
            }
            var range = bounds
            if parts[0] != "*" {
                let ends = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2 else { throw ScheduleError("\(name) field '\(item)' has more than one '-'") }
                let first = try value(ends[0]), last = try value(ends[ends.count - 1])
                guard ends.count == 2 || parts.count == 1 else {
                    throw ScheduleError("\(name) field '\(item)' steps from a single value; write a range, as in '\(ends[0])-\(bounds.upperBound)/\(step)'")
                }
                guard first <= last else { throw ScheduleError("\(name) field '\(item)' is a range that goes backwards") }
                range = first...last
            }
            for value in stride(from: range.lowerBound, through: range.upperBound, by: step) { bits |= 1 << value }
        }
        return bits
    }

    private func value(_ text: Substring) throws(ScheduleError) -> Int {
        if let index = names.firstIndex(of: text) { return firstNamed + index }
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), !text.isEmpty else {
            let named = names.isEmpty ? "" : " or a name (\(names.first!)-\(names.last!))"
            throw ScheduleError("\(name) field '\(text)' is not a number\(named)")
        }
        guard let number = Self.number(text), bounds.contains(number) else {
            throw ScheduleError("\(name) field '\(text)' is out of range \(bounds.lowerBound)-\(bounds.upperBound)")
        }
        return number
    }

    private static func number(_ text: Substring) -> Int? {
        text.allSatisfy({ $0.isASCII && $0.isNumber }) ? Int(text) : nil
    }
}

/// A day of the proleptic Gregorian calendar in UTC, stepped one day at a time.
struct CivilDate {
    var year: Int64
    var month: Int
    var day: Int
    /// 0 is Sunday.
    var weekday: Int

    /// Howard Hinnant's civil_from_days, on years that start on March 1st so that the leap
    /// day is the last of its year.
    init(daysSinceEpoch days: Int64) {
        let shifted = days + 719_468   // days from 0000-03-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * monthFromMarch + 2) / 5 + 1)
        month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        weekday = Int((days % 7 + 11) % 7)   // 1970-01-01 was a Thursday
    }

    mutating func advance() {
        weekday = (weekday + 1) % 7
        day += 1
        guard day > daysInMonth else { return }
        day = 1
        month += 1
        guard month > 12 else { return }
        month = 1
        year += 1
    }

    var daysInMonth: Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A schedule text that does not parse, with the part at fault.
public struct ScheduleError: Error, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
