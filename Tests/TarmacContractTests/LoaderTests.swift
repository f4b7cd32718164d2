import Foundation
import Testing
import TarmacContract
import TarmacModel
import TarmacTesting

@Suite struct LoaderTests {
    @Test func positionsOfKeysAndValues() throws {
        let r = YAMLLoader.load("a: 1\nb:\n  c: [x, \"y\"]\n", file: "f.yaml")
        let doc = try #require(r.documents.first)
        #expect(doc.entry("b")?.keyLocation == SourceLocation(file: "f.yaml", line: 2, column: 1))
        let c = try #require(doc.at(["b", "c"]))
        #expect(c.items?[1].location == SourceLocation(file: "f.yaml", line: 3, column: 10))
        #expect(c.items?[0].isPlainScalar == true && c.items?[1].isPlainScalar == false)
    }

    @Test func jsonIsRead() throws {
        let r = YAMLLoader.load("{\n  \"kind\": \"Agent\",\n  \"n\": 3\n}", file: "f.json")
        #expect(r.diagnostics.isEmpty)
        #expect(r.documents.first?["n"]?.location.line == 3)
    }

    @Test func syntaxErrorHasPosition() {
        let r = YAMLLoader.load("a: 1\n  b: 2\n", file: "f.yaml")
        #expect(r.diagnostics.count == 1)
        #expect(r.diagnostics.first?.location == SourceLocation(file: "f.yaml", line: 2, column: 4))
        #expect(r.diagnostics.first?.rule == "yaml-syntax")
    }

    @Test func aliasBombIsBounded() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let r = YAMLLoader.load(text, file: "bomb.yaml")
        #expect(r.documents.isEmpty)
        #expect(r.diagnostics.first?.rule == "yaml-size")
    }

    @Test func mergeKeysAreRefused() {
        let r = YAMLLoader.load("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", file: "m.yaml")
        #expect(r.diagnostics.map(\.rule) == ["yaml-syntax"])
        #expect(r.diagnostics.first?.location?.line == 3)
    }

    @Test func missingFileNamedByReference() {
        let at = SourceLocation(file: "p.yaml", line: 4, column: 7)
        let r = YAMLLoader.loadFile("/nonexistent/x.yaml", displayName: "x.yaml", reference: at)
        #expect(r.diagnostics == [.error(at: at, "no such file 'x.yaml'", rule: "file")])
    }
}

@Suite struct LayeringTests {
    func tree(_ s: String, _ file: String) -> YNode { YAMLLoader.load(s, file: file).documents[0] }

    @Test func mergesFieldByFieldAndKeepsProvenance() throws {
        let base = tree("s:\n  cpu: 8\n  memory: 32Gi\nlist: [a, b]\n", "base.yaml")
        let over = tree("s:\n  memory: 64Gi\nlist: [c]\nextra: 1\n", "over.yaml")
        let m = Layering.merge(base, over)
        #expect(m.at(["s", "cpu"])?.text == "8")
        #expect(m.at(["s", "cpu"])?.location.file == "base.yaml")
        #expect(m.at(["s", "memory"])?.text == "64Gi")
        #expect(m.at(["s", "memory"])?.location.file == "over.yaml")
        #expect(m["list"]?.items?.map(\.text) == ["c"])  // lists are replaced, not concatenated
        #expect(m["extra"]?.text == "1")
    }

    @Test func nullRemoves() {
        let m = Layering.merge(tree("a: 1\nb: 2\n", "x"), tree("a: null\n", "y"))
        #expect(m["a"] == nil && m["b"]?.text == "2")
    }

    @Test func laterExtendsOverrideEarlierAndOwnFileWins() throws {
        let dir = try TemporaryDirectory()
        let head = "apiVersion: tarmac.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\n"
        try dir.write("one.yaml", head + "spec:\n  priorities: {a: 1, b: 1, c: 1}\n")
        try dir.write("two.yaml", head + "spec:\n  priorities: {b: 2, c: 2}\n")
        let main = try dir.write("main.yaml", head + "spec:\n  extends: [one.yaml, two.yaml]\n  priorities: {c: 3}\n")
        let r = ContractLoader.load(main)
        let p = try #require(r.contract?.platform, "\(r.diagnostics)")
        #expect(p.priorities == ["a": 1, "b": 2, "c": 3])
    }

    /// The metrics section as written, an overlay's query winning over its base's.
    @Test func metricsSectionIsReadAndLayered() throws {
        let dir = try TemporaryDirectory()
        let head = "apiVersion: tarmac.dev/v1alpha1\nkind: Platform\nmetadata: {name: t}\n"
        try dir.write("base.yaml", head + "spec:\n  metrics:\n    prometheus: http://prom:9090\n    queries: {requests: 'a[$window]', errors: 'b'}\n")
        let main = try dir.write("main.yaml", head + "spec:\n  extends: [base.yaml]\n  metrics:\n    queries: {errors: 'c'}\n")
        let r = ContractLoader.load(main)
        let p = try #require(r.contract?.platform, "\(r.diagnostics)")
        #expect(p.metrics.prometheus == "http://prom:9090")
        #expect(p.metrics.queries == ["requests": "a[$window]", "errors": "c"])
    }

    @Test func explainNamesTheLayerOfEveryValue() throws {
        let e = try Explainer.explain(Support.contract, env: "prod", team: nil, size: "inference/s").get()
        let memory = try #require(e.rows.first { $0.path == "memory" })
        #expect(memory.value == "20Gi")
        #expect(memory.source.file.hasSuffix("environments/prod.yaml"))
        let cpu = try #require(e.rows.first { $0.path == "cpu" })
        #expect(cpu.source.file.hasSuffix("base.yaml"))
        let dev = try Explainer.explain(Support.contract, env: "dev", team: nil, size: "s").get()
        #expect(dev.rows.first { $0.path == "memory" }?.value == "16Gi")
        let ads = try Explainer.explain(Support.contract, env: nil, team: "ads", size: "medium").get()
        #expect(ads.rows.first { $0.path == "memory" }?.source.file.hasSuffix("platform/platform.yaml") == true)
    }

    @Test func explainRefusesUnknownAndAmbiguousSizes() {
        #expect(Explainer.explain(Support.contract, env: nil, team: nil, size: "cpu-small")
            == .failure(.ambiguous("cpu-small", ["training/cpu-small", "batch/cpu-small", "inference/cpu-small", "agent/cpu-small"])))
        guard case .failure(.unknownSize(_, let hint)) = Explainer.explain(Support.contract, env: nil, team: nil, size: "larg") else {
            Issue.record("expected unknownSize")
            return
        }
        #expect(hint == "; did you mean 'large'?")
    }
}

extension Result where Success == Explanation, Failure == Explainer.Failure {
    static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.failure(let x), .failure(let y)): x == y
        default: false
        }
    }
}

@Suite struct SchemaFileTests {
    /// schemas/*.json are what `tarmac schema --out schemas` writes: the published schemas match the code.
    @Test(arguments: DocumentKind.allCases)
    func publishedSchemaIsCurrent(_ kind: DocumentKind) throws {
        let path = Fixtures.path("schemas/\(kind.rawValue.lowercased()).json")
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        #expect(committed == JSONSchemaWriter.document(for: kind), "run: swift run tarmac schema --out schemas")
        let parsed = try JSONSerialization.jsonObject(with: Data(committed.utf8)) as? [String: Any]
        #expect(parsed?["additionalProperties"] as? Bool == false)
    }
}

@Suite struct SuggestionTests {
    @Test func didYouMean() {
        #expect(Suggestions.closest(to: "workrs", in: ["workers", "image"]) == "workers")
        #expect(Suggestions.closest(to: "GPUS", in: ["gpus", "cpu"]) == "gpus")
        #expect(Suggestions.closest(to: "zzz", in: ["gpus", "cpu"]) == nil)
        #expect(Suggestions.distance("ab", "ba") == 1)
        #expect(Suggestions.hint(for: "q", in: [String](), noun: "tools") == "; no tools are defined")
    }
}
