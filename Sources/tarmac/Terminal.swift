#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import TarmacModel

/// Output helpers: colour only on a terminal (and never with NO_COLOR), diagnostics compiler-style.
enum Terminal {
    static let colour: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    static func bold(_ s: String) -> String { paint(s, "1") }

    static func render(_ d: Diagnostic) -> String {
        let place = d.location.map { bold("\($0): ") } ?? ""
        let sev: String = switch d.severity {
        case .error: paint("error:", "1;31")
        case .warning: paint("warning:", "1;35")
        case .note: paint("note:", "1;36")
        }
        var line = "\(place)\(sev) \(d.message) [\(d.rule)]"
        if let help = d.help { line += "\n    " + paint("help:", "1;32") + " " + help }
        return line
    }

    /// Flushes standard output (so a supervisor or test reading it sees lines as they are printed).
    static func flush() { fflush(nil) }

    static func writeError(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// A table with left-aligned columns separated by two spaces.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return ([bold(line(header))] + rows.map(line)).joined(separator: "\n")
    }
}

enum OutputFormat: String, CaseIterable, Sendable {
    case text, json, yaml, csv
}
