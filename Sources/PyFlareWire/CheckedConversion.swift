/// Conversions of numbers that come from outside (a request, a stored record) into the
/// integers PyFlare computes with. `Int64(_: Double)` traps on NaN, infinities and anything
/// outside the type's range; these answer nil instead, so a hostile value becomes a 400
/// naming its parameter rather than a crash.
extension Int64 {
    /// `value` rounded toward zero; nil when it is not finite or does not fit.
    public init?(checked value: Double) {
        // 2^63 is exactly representable; every double below it converts without trapping.
        guard value.isFinite, value >= -9_223_372_036_854_775_808.0, value < 9_223_372_036_854_775_808.0 else { return nil }
        self.init(value)
    }
}

extension UInt64 {
    /// `value` rounded toward zero; nil when it is negative, not finite or does not fit.
    public init?(checked value: Double) {
        guard value.isFinite, value >= 0, value < 18_446_744_073_709_551_616.0 else { return nil }
        self.init(value)
    }
}
