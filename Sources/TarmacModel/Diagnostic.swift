/// How serious a diagnostic is. Errors make a document unusable; warnings flag legal but risky things.
public enum Severity: String, Sendable, Codable, Comparable {
    case error
    case warning
    case note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// One problem found in a document, printed compiler-style:
/// `FILE:LINE:COL: error: MESSAGE [rule]`, optionally followed by a `help:` line that says how to fix it.
public struct Diagnostic: Hashable, Sendable, Codable, CustomStringConvertible {
    public var severity: Severity
    public var location: SourceLocation?
    public var message: String
    /// A stable, short identifier of the rule that produced this diagnostic (for example `unknown-field`).
    public var rule: String
    /// How to fix it, when there is a clear fix.
    public var help: String?

    public init(_ severity: Severity, at location: SourceLocation?, _ message: String, rule: String, help: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.rule = rule
        self.help = help
    }

    public static func error(at location: SourceLocation?, _ message: String, rule: String, help: String? = nil) -> Diagnostic {
        Diagnostic(.error, at: location, message, rule: rule, help: help)
    }

    public static func warning(at location: SourceLocation?, _ message: String, rule: String, help: String? = nil) -> Diagnostic {
        Diagnostic(.warning, at: location, message, rule: rule, help: help)
    }

    /// The first line: `FILE:LINE:COL: error: MESSAGE [rule]`.
    public var headline: String {
        let place = location.map { "\($0): " } ?? ""
        return "\(place)\(severity.rawValue): \(message) [\(rule)]"
    }

    public var description: String {
        guard let help else { return headline }
        return headline + "\n    help: " + help
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }

    /// Sorted by file, line, column, then severity and message. Duplicates are removed: the same rule at the same
    /// position is one problem, even when found twice (a value checked in its own layer and in the merged contract).
    public func normalized() -> [Diagnostic] {
        var seen = Set<DiagnosticKey>()
        let unique = filter { d in
            seen.insert(DiagnosticKey(severity: d.severity, location: d.location, rule: d.rule, message: d.location == nil ? d.message : nil)).inserted
        }
        return unique.sorted { a, b in
            switch (a.location, b.location) {
            case let (x?, y?) where x != y: return x < y
            case (nil, _?): return true
            case (_?, nil): return false
            default:
                if a.severity != b.severity { return a.severity < b.severity }
                return a.message < b.message
            }
        }
    }
}

private struct DiagnosticKey: Hashable {
    var severity: Severity
    var location: SourceLocation?
    var rule: String
    var message: String?
}
