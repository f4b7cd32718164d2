import Foundation
import TarmacAPI
import TarmacContract
import TarmacCore
import TarmacModel

/// The new-workload form's fields, and the workload document they make. The document is what is validated and
/// submitted, exactly as if it came from a file: every diagnostic points at one of its lines, and each line comes from
/// one field, so a diagnostic is shown next to the field it is about.
struct WorkloadForm: Sendable, Equatable {
    static let kinds = ["TrainingJob", "BatchJob"]
    static let fields = ["kind", "name", "team", "env", "owner", "size", "image", "command", "workers", "tasks", "parallelism", "env-vars", "maxDuration",
                         "workdir", "workdir-name"]

    /// The uploaded working directory's digest, if one was chosen.
    var workdirDigest: String? { self["workdir"].isEmpty ? nil : self["workdir"] }

    var values: [String: String]

    /// A field's value without the spaces around it, and without byte-order marks (invisible, and YAML drops them).
    subscript(_ key: String) -> String {
        values[key]?.replacingOccurrences(of: "\u{FEFF}", with: "").trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    init(_ values: [String: String]) {
        self.values = values.filter { Self.fields.contains($0.key) || $0.key == "requestId" }
    }

    /// A first form for the caller: their team, the first environment, a small training job.
    static func initial(for principal: Principal, contract: Contract) -> WorkloadForm {
        let p = contract.platform
        let team = principal.team ?? p.teams.keys.sorted().first ?? ""
        let env = p.environments.keys.sorted().first ?? ""
        let sizes = contract.resolve(env: env, team: team).platform.sizes[.training]?.values.sorted { $0.gpus.thousandths < $1.gpus.thousandths } ?? []
        return WorkloadForm(["kind": "TrainingJob", "team": team, "env": env, "size": sizes.first?.name ?? "", "workers": "1", "tasks": "1", "parallelism": "1",
                             "requestId": UUID().uuidString.lowercased()])
    }

    /// The document, and which field each of its lines came from.
    func document() -> (yaml: String, lineField: [Int: String]) {
        var lines: [String] = [], fieldOf: [Int: String] = [:]
        func add(_ line: String, _ field: String? = nil) {
            lines.append(line)
            if let field { fieldOf[lines.count] = field }
        }
        let kind = self["kind"].isEmpty ? "TrainingJob" : self["kind"]
        add("apiVersion: \(DocumentKind.apiVersion)")
        add("kind: \(Self.quote(kind))", "kind")
        add("metadata:")
        add("  name: \(Self.quote(self["name"]))", "name")
        add("  team: \(Self.quote(self["team"]))", "team")
        add("  env: \(Self.quote(self["env"]))", "env")
        if !self["owner"].isEmpty { add("  owner: \(Self.quote(self["owner"]))", "owner") }
        add("spec:")
        add("  size: \(Self.quote(self["size"]))", "size")
        if kind == "TrainingJob" {
            add("  workers: \(Self.number(self["workers"], default: "1"))", "workers")
        } else if kind == "BatchJob" {
            add("  tasks: \(Self.number(self["tasks"], default: "1"))", "tasks")
            add("  parallelism: \(Self.number(self["parallelism"], default: "1"))", "parallelism")
        }
        add("  image: \(Self.quote(self["image"]))", "image")
        let command = Self.words(self["command"])
        if !command.isEmpty { add("  command: [\(command.map(Self.quote).joined(separator: ", "))]", "command") }
        let vars = self["env-vars"].split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if !vars.isEmpty {
            add("  env:", "env-vars")
            for v in vars {
                let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                add("    \(Self.quote(String(kv[0]))): \(Self.quote(kv.count > 1 ? String(kv[1]) : ""))", "env-vars")
            }
        }
        if !self["maxDuration"].isEmpty { add("  maxDuration: \(Self.quote(self["maxDuration"]))", "maxDuration") }
        if workdirDigest != nil {
            // The folder's own name, as a relative path (what `tarmac submit` would name); its content goes by digest.
            let name = self["workdir-name"]
            let safe = name.isEmpty || name.contains("/") || name.contains("\\") || name.hasPrefix(".") ? "upload" : name
            add("  workdir: \(Self.quote(safe))", "workdir")
        }
        return (lines.joined(separator: "\n") + "\n", fieldOf)
    }

    /// A YAML double-quoted scalar: JSON's escapes, which YAML reads the same way; nothing a user types can end it.
    /// What JSON leaves as is but YAML reads as a line break (and folds) or refuses: escaped as `\uXXXX` too.
    static func quote(_ s: String) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        let json = (try? String(decoding: e.encode(s), as: UTF8.self)) ?? "\"\""
        var out = String.UnicodeScalarView()
        for u in json.unicodeScalars {
            if (0x7F...0x9F).contains(u.value) || [0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF].contains(u.value) {
                out.append(contentsOf: String(format: "\\u%04X", u.value).unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    /// A whole number as itself; anything else quoted, so validation says what is wrong with it at its line.
    static func number(_ s: String, default d: String) -> String {
        if s.isEmpty { return d }
        return Int(s).map(String.init) ?? quote(s)
    }

    /// A command line split into words as a shell would for plain words and quotes ('…', "…", \x); no expansion.
    static func words(_ s: String) -> [String] {
        var out: [String] = [], cur = "", inWord = false
        var quote: Character?
        var escape = false
        for c in s {
            if escape { cur.append(c); escape = false; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { cur.append(c) }
                continue
            }
            switch c {
            case "'", "\"": quote = c; inWord = true
            case "\\": escape = true
            case " ", "\t", "\n", "\r":
                if inWord { out.append(cur); cur = ""; inWord = false }
            default: cur.append(c); inWord = true
            }
        }
        if inWord { out.append(cur) }
        return out
    }

    /// Rules whose diagnostics point at the document's `spec:` or `metadata:` key, by the field they are about.
    static let ruleField = ["max-duration": "maxDuration", "local-command": "command", "require-owner": "owner", "allowed-registries": "image", "image-tag": "image"]

    /// Each diagnostic by the field it is about (by its line; else by the `spec.X` or `metadata.X` it names; else
    /// the form as a whole, key "").
    static func byField(_ diagnostics: [DiagnosticPayload], lineField: [Int: String]) -> [String: [DiagnosticPayload]] {
        var out: [String: [DiagnosticPayload]] = [:]
        for d in diagnostics {
            var field = lineField[d.line]
            if field == nil, let rule = d.rule { field = ruleField[rule] }
            if field == nil {
                for f in fields where f != "env-vars" {
                    if d.message.contains("spec.\(f)") || d.message.contains("metadata.\(f)") { field = f; break }
                }
            }
            out[field ?? "", default: []].append(d)
        }
        return out
    }
}
