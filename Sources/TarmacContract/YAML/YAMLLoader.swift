import Foundation
import TarmacModel
import Yams

/// Reads YAML (or JSON, which is YAML) into position-carrying trees. Never throws: problems become diagnostics.
public enum YAMLLoader {
    /// Upper bound on nodes per document, which also defuses alias bombs ("billion laughs").
    public static let maxNodes = 500_000

    public struct Result: Sendable {
        public var documents: [YNode]
        public var diagnostics: [Diagnostic]
    }

    public static func load(_ text: String, file: String) -> Result {
        var documents: [YNode] = []
        var diagnostics: [Diagnostic] = []
        do {
            // Tags are not resolved by regex here: scalars are typed by the schema, from their text and plainness.
            // The encoding is named: Yams' default reads the process environment for every parser.
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            while let root = try parser.nextRoot() {
                var budget = maxNodes
                switch convert(root, file: file, budget: &budget, diagnostics: &diagnostics) {
                case .some(let node): documents.append(node)
                case .none: break
                }
            }
        } catch let error as YamlError {
            diagnostics.append(diagnostic(for: error, file: file, text: text))
        } catch {
            diagnostics.append(.error(at: SourceLocation(file: file, line: 1, column: 1), "cannot read YAML: \(error)", rule: "yaml-syntax"))
        }
        return Result(documents: documents, diagnostics: diagnostics)
    }

    /// Loads a file from disk; a missing or unreadable file is a diagnostic at `reference` (where it was named) if given.
    public static func loadFile(_ path: String, displayName: String? = nil, reference: SourceLocation? = nil) -> Result {
        let name = displayName ?? path
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            let message = exists ? "cannot read '\(name)'" : "no such file '\(name)'"
            return Result(documents: [], diagnostics: [.error(at: reference, message, rule: "file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return Result(documents: [], diagnostics: [.error(at: SourceLocation(file: name, line: 1, column: 1), "file is not valid UTF-8", rule: "yaml-syntax")])
        }
        return load(text, file: name)
    }

    private static func location(_ mark: Mark?, file: String) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    private static func convert(_ node: Node, file: String, budget: inout Int, diagnostics: inout [Diagnostic]) -> YNode? {
        budget -= 1
        if budget == 0 {
            diagnostics.append(.error(at: location(node.mark, file: file),
                                      "document has more than \(maxNodes) nodes (alias expansion too large?)", rule: "yaml-size"))
        }
        if budget <= 0 { return nil }
        let loc = location(node.mark, file: file)
        switch node {
        case .scalar(let s):
            return YNode(.scalar(s.string, plain: s.style == .plain || s.style == .any), at: loc)
        case .alias(let a):
            return YNode(.scalar(a.anchor.rawValue, plain: false), at: loc)
        case .sequence(let seq):
            var items: [YNode] = []
            for n in seq {
                guard let c = convert(n, file: file, budget: &budget, diagnostics: &diagnostics) else { return nil }
                items.append(c)
            }
            return YNode(.sequence(items), at: loc)
        case .mapping(let map):
            var entries: [YNode.Entry] = []
            var firstSeen: [String: SourceLocation] = [:]
            for (k, v) in map {
                let keyLoc = location(k.mark, file: file)
                guard case .scalar(let ks) = k else {
                    diagnostics.append(.error(at: keyLoc, "mapping keys must be plain strings", rule: "yaml-syntax"))
                    continue
                }
                let key = ks.string
                if key == "<<" && ks.style == .plain {
                    diagnostics.append(.error(at: keyLoc, "YAML merge keys ('<<') are not supported; use 'extends' or overlays", rule: "yaml-syntax"))
                    continue
                }
                if let first = firstSeen[key] {
                    diagnostics.append(.error(at: keyLoc, "duplicate key '\(key)' (first defined at \(first.line):\(first.column))", rule: "duplicate-key"))
                    continue
                }
                firstSeen[key] = keyLoc
                guard let value = convert(v, file: file, budget: &budget, diagnostics: &diagnostics) else { return nil }
                entries.append(YNode.Entry(key: key, keyLocation: keyLoc, value: value))
            }
            return YNode(.mapping(entries), at: loc)
        }
    }

    private static func diagnostic(for error: YamlError, file: String, text: String) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text))" }
            return .error(at: location(mark, file: file), message, rule: "yaml-syntax")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams stops at the mapping; point at each repeated key (block style: same column, later line).
            let mapping = context.mark
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var found: [Diagnostic] = []
            for key in duplicates {
                var first: Int?
                for (i, line) in lines.enumerated() where i + 1 >= mapping.line {
                    let scalars = Array(line.unicodeScalars)
                    guard scalars.count >= mapping.column else { continue }
                    let indent = scalars.prefix(mapping.column - 1)
                    if i + 1 > mapping.line, !indent.allSatisfy({ $0 == " " || $0 == "-" }) { break }
                    let rest = String(String.UnicodeScalarView(scalars[(mapping.column - 1)...]))
                    guard rest.hasPrefix(key + ":") || rest.hasPrefix("\"\(key)\":") else { continue }
                    if let f = first {
                        found.append(.error(at: SourceLocation(file: file, line: i + 1, column: mapping.column),
                                            "duplicate key '\(key)' (first defined at \(f):\(mapping.column))", rule: "duplicate-key"))
                    } else {
                        first = i + 1
                    }
                }
            }
            if found.isEmpty {
                let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                return .error(at: location(mapping, file: file), "duplicate key \(keys) in this mapping", rule: "duplicate-key")
            }
            return found[0]
        case .reader(let problem, let offset, _, _):
            let (line, column) = lineAndColumn(ofUTF8Offset: offset ?? 0, in: text)
            return .error(at: SourceLocation(file: file, line: line, column: column), "cannot read input: \(problem)", rule: "yaml-syntax")
        default:
            return .error(at: SourceLocation(file: file, line: 1, column: 1), "YAML error: \(error)", rule: "yaml-syntax")
        }
    }

    static func lineAndColumn(ofUTF8Offset offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for (i, byte) in text.utf8.enumerated() {
            if i >= offset { break }
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return (line, column)
    }
}
