import Foundation
import PropertyBased
import Testing
import TarmacAPI
import TarmacContract
import TarmacModel
@testable import TarmacPortal

/// The form's document: whatever is typed stays one value of one field (no YAML injection), and each diagnostic goes
/// to the field it is about.
@Suite struct WorkloadFormTests {
    static let alphabet = Gen.character(in: " "..."~")

    @Test func typedValuesComeBackUnchangedFromTheDocument() async {
        let specials: [String] = ["\n", "\"", "\\", "'", ": ", "# ", "{", "[", "&a", "*a", "!!int", "---", "é", "\t", "<script>", "\u{2028}", "\u{85}", "\u{7f}", "\u{feff}", "\u{2029}"]
        await propertyCheck(count: 300, input: Self.alphabet.string(of: 0...24), Gen.int(in: 0...19), Self.alphabet.string(of: 0...12)) { base, special, value in
            let image = base + specials[special] + base
            let form = WorkloadForm(["kind": "TrainingJob", "name": "n", "team": "search", "env": "dev", "size": "small", "image": image,
                                     "env-vars": "KEY=\(value)\(specials[special])x\nOTHER=1"])
            let (yaml, _) = form.document()
            let read = DocumentReader.read(text: yaml, file: "form")
            #expect(read.workloads.count == 1, "one document: \(yaml)")
            guard let w = read.workloads.first else { return }
            #expect(w.image == image.replacingOccurrences(of: "\u{feff}", with: "").trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(w.metadata.name == "n" && w.metadata.team == "search")
            #expect(w.env.first { $0.name == "OTHER" }?.value == "1", "the next variable is still its own: \(yaml)")
        }
    }

    @Test func commandsSplitAsAShellSplitsWords() {
        #expect(WorkloadForm.words("python3 train.py --epochs 3") == ["python3", "train.py", "--epochs", "3"])
        #expect(WorkloadForm.words("python3 -c \"print('a b')\"") == ["python3", "-c", "print('a b')"])
        #expect(WorkloadForm.words("sh -c 'echo \"$X\"'  x\\ y ''") == ["sh", "-c", "echo \"$X\"", "x y", ""])
        #expect(WorkloadForm.words("   ") == [])
    }

    @Test func numbersThatAreNotNumbersReachValidationAsText() {
        let (yaml, lines) = WorkloadForm(["kind": "TrainingJob", "workers": "two"]).document()
        let line = yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("workers:") }! + 1
        #expect(yaml.contains("workers: \"two\""))
        #expect(lines[line] == "workers")
    }

    @Test func diagnosticsGoToTheirFields() {
        let form = WorkloadForm(["kind": "BatchJob", "name": "x", "team": "search", "env": "dev", "size": "s", "image": "i", "command": "a b", "maxDuration": "1h"])
        let (yaml, lines) = form.document()
        func line(_ key: String) -> Int { yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("  \(key):") }! + 1 }
        func d(_ line: Int, _ message: String, rule: String? = nil) -> DiagnosticPayload {
            DiagnosticPayload(severity: "error", file: "request", line: line, column: 1, message: message, rule: rule, help: nil, text: message)
        }
        let by = WorkloadForm.byField([d(line("image"), "bad image"), d(line("tasks"), "bad tasks"), d(7, "no maxDuration", rule: "max-duration"),
                                       d(7, "spec.command is required"), d(1, "something else")], lineField: lines)
        #expect(by["image"]?.map(\.message) == ["bad image"])
        #expect(by["tasks"]?.map(\.message) == ["bad tasks"])
        #expect(by["maxDuration"]?.map(\.message) == ["no maxDuration"])
        #expect(by["command"]?.map(\.message) == ["spec.command is required"])
        #expect(by[""]?.map(\.message) == ["something else"])
    }
}
