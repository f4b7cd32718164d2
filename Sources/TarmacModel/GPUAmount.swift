import Foundation

/// A number of GPUs in thousandths, so fractions (`0.5`, `0.25`) are exact.
public struct GPUAmount: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var thousandths: Int
    public init(thousandths: Int) { self.thousandths = thousandths }
    public init(whole: Int) { self.thousandths = whole * 1000 }
    public static let zero = GPUAmount(thousandths: 0)

    public enum ParseError: Error, Equatable, Sendable { case malformed, negative, tooPrecise }

    /// Reads `1`, `8`, `0.5`, `0.125`. At most three decimals.
    public static func parse(_ text: String) -> Result<GPUAmount, ParseError> {
        guard let v = QuantityParser.value(of: text), !text.contains(where: { $0.isLetter }) else { return .failure(.malformed) }
        if v < 0 { return .failure(.negative) }
        var scaled = v * 1000
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded == scaled else { return .failure(.tooPrecise) }
        guard rounded <= 1_000_000_000 else { return .failure(.malformed) }
        return .success(GPUAmount(thousandths: NSDecimalNumber(decimal: rounded).intValue))
    }

    public var isFractional: Bool { thousandths % 1000 != 0 }
    public var isWhole: Bool { thousandths % 1000 == 0 }
    public var wholeGPUs: Int { thousandths / 1000 }

    public var description: String {
        if thousandths % 1000 == 0 { return "\(thousandths / 1000)" }
        var s = String(format: "%d.%03d", thousandths / 1000, thousandths % 1000)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    public static func < (a: GPUAmount, b: GPUAmount) -> Bool { a.thousandths < b.thousandths }
    public static func + (a: GPUAmount, b: GPUAmount) -> GPUAmount { GPUAmount(thousandths: a.thousandths + b.thousandths) }
    public static func * (a: GPUAmount, n: Int) -> GPUAmount { GPUAmount(thousandths: a.thousandths * n) }
}
