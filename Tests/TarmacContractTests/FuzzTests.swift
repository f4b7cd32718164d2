import Foundation
import PropertyBased
import Testing
import TarmacContract
import TarmacModel
import TarmacTesting

/// Random and mutated documents never crash the decoder, and every problem it reports is well-formed:
/// it has a rule, and a position inside the document (or no position at all).
@Suite struct FuzzTests {
    static let seeds: [String] = Fixtures.files(in: Fixtures.exampleWorkloads).compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        + Fixtures.files(in: Fixtures.invalidDir + "/workloads").filter { !$0.hasSuffix(".expect") }.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }

    static let tokens = [": ", "- ", "\n", "  ", "{", "}", "[", "]", ",", "&a ", "*a", "!!int ", "'", "\"", "#", "|", ">", "~", "null", "-1", "0",
                         "1e309", "999999999999999999999", "0.0001", "Gi", "\t", "\u{0}", "é", "size: ", "gpus: ", "kind: Platform", "---\n", "? ", "%YAML 1.1\n"]

    /// TARMAC_FUZZ_FACTOR=20 runs every fuzz test 20 times as long (for a longer session than CI's).
    static func runs(_ n: Int) -> Int { n * (Int(ProcessInfo.processInfo.environment["TARMAC_FUZZ_FACTOR"] ?? "") ?? 1) }

    /// A small deterministic generator, so a failing case can be replayed from its seed.
    typealias SplitMix = SeededGenerator

    static func mutate(_ text: String, seed: UInt64) -> String {
        var rng = SplitMix(seed: seed)
        var lines = text.components(separatedBy: "\n")
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !lines.isEmpty else { break }
            let i = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2:
                var chars = Array(lines[i])
                let at = chars.isEmpty ? 0 : Int.random(in: 0...chars.count, using: &rng)
                chars.insert(contentsOf: tokens.randomElement(using: &rng)!, at: at)
                lines[i] = String(chars)
            case 3:
                let chars = Array(lines[i])
                if !chars.isEmpty { lines[i] = String(chars.prefix(Int.random(in: 0..<chars.count, using: &rng))) }
            case 4: lines[i] = " " + lines[i]
            default: lines.swapAt(i, Int.random(in: 0..<lines.count, using: &rng))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func assertWellFormed(_ text: String, _ diagnostics: [Diagnostic]) {
        // YAML's line breaks: LF, CR, CR LF, NEL, LS, PS.
        var lineCount = 1
        var previousCR = false
        for u in text.unicodeScalars {
            switch u {
            case "\n": if !previousCR { lineCount += 1 }
            case "\r", "\u{85}", "\u{2028}", "\u{2029}": lineCount += 1
            default: break
            }
            previousCR = u == "\r"
        }
        for d in diagnostics {
            #expect(!d.rule.isEmpty && !d.message.isEmpty)
            if let l = d.location, l.file == "fuzz.yaml" {
                #expect(l.line >= 1 && l.line <= lineCount + 1, "\(d) outside a \(lineCount)-line document")
                #expect(l.column >= 1)
            }
        }
    }

    @Test func mutatedDocuments() async {
        await propertyCheck(count: Self.runs(1500), input: Gen.int(in: 0...(Self.seeds.count - 1)), Gen.uint64(in: 0...UInt64.max)) { index, seed in
            let text = Self.mutate(Self.seeds[index], seed: seed)
            let diagnostics = Support.check(text, file: "fuzz.yaml")
            Self.assertWellFormed(text, diagnostics)
            #expect(Support.check(text, file: "fuzz.yaml") == diagnostics, "the same input gives the same diagnostics")
        }
    }

    @Test func randomTokenSoup() async {
        await propertyCheck(count: Self.runs(1500), input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SplitMix(seed: seed)
            let text = (0..<Int.random(in: 0...60, using: &rng)).map { _ in Self.tokens.randomElement(using: &rng)! }.joined()
            Self.assertWellFormed(text, Support.check(text, file: "fuzz.yaml"))
        }
    }

    @Test func randomBytes() async {
        await propertyCheck(count: Self.runs(500), input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SplitMix(seed: seed)
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = String(decoding: bytes, as: UTF8.self)
            Self.assertWellFormed(text, Support.check(text, file: "fuzz.yaml"))
        }
    }

    /// Mutated platform contracts: the loader never crashes and never returns a contract alongside an error.
    @Test func mutatedPlatforms() async throws {
        let base = try String(contentsOfFile: Fixtures.path("examples/platform/base.yaml"), encoding: .utf8)
        await propertyCheck(count: Self.runs(200), input: Gen.uint64(in: 0...UInt64.max)) { seed in
            guard let dir = try? TemporaryDirectory() else { return }
            let text = Self.mutate(base, seed: seed)
            guard let file = try? dir.write("base.yaml", text) else { return }
            let r = ContractLoader.load(file)
            #expect(r.contract == nil || !r.diagnostics.hasErrors)
            for d in r.diagnostics { #expect(!d.rule.isEmpty) }
        }
    }
}
