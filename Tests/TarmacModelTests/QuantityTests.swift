import PropertyBased
import Testing
@testable import TarmacModel

@Suite struct QuantityTests {
    @Test(arguments: [
        ("500m", 500), ("1", 1000), ("8", 8000), ("0.5", 500), ("2.25", 2250), ("1k", 1_000_000), ("1e3", 1_000_000), ("0.0001", 1),
    ] as [(String, Int64)])
    func cpuParses(_ text: String, _ millis: Int64) throws {
        #expect(try CPUQuantity.parse(text).get().millis == millis)
    }

    @Test(arguments: ["", "eight", "8 cores", "1.2.3", "m", "5x", " 8", "0x10"])
    func cpuRejectsMalformed(_ text: String) {
        #expect(CPUQuantity.parse(text) == .failure(.malformed(text)))
    }

    @Test func cpuRejectsZeroAndNegative() throws {
        #expect(CPUQuantity.parse("0") == .failure(.zero("0")))
        #expect(CPUQuantity.parse("-2") == .failure(.negative("-2")))
        #expect(try CPUQuantity.parse("0", allowZero: true).get().millis == 0)
    }

    @Test(arguments: [
        ("64Gi", Int64(64) << 30), ("512Mi", Int64(512) << 20), ("1G", 1_000_000_000), ("1Ti", Int64(1) << 40),
        ("1.5Gi", Int64(3) << 29), ("1024", 1024), ("1e3", 1000), ("2Ki", 2048),
    ] as [(String, Int64)])
    func bytesParse(_ text: String, _ bytes: Int64) throws {
        #expect(try ByteQuantity.parse(text).get().bytes == bytes)
    }

    @Test func bytesCanonicalForm() throws {
        #expect(ByteQuantity(bytes: Int64(64) << 30).description == "64Gi")
        #expect(ByteQuantity(bytes: Int64(1536) << 20).description == "1536Mi")
        #expect(ByteQuantity(bytes: 1_000_000_000).description == "1G")
        #expect(ByteQuantity(bytes: 1001).description == "1001")
        #expect(CPUQuantity(millis: 2500).description == "2500m")
        #expect(CPUQuantity(millis: 96000).description == "96")
    }

    @Test func gpuAmounts() throws {
        #expect(try GPUAmount.parse("0.5").get().thousandths == 500)
        #expect(try GPUAmount.parse("8").get().thousandths == 8000)
        #expect(try GPUAmount.parse("0.125").get().description == "0.125")
        #expect(GPUAmount.parse("0.0005") == .failure(.tooPrecise))
        #expect(GPUAmount.parse("-1") == .failure(.negative))
        #expect(GPUAmount.parse("1Gi") == .failure(.malformed))
        #expect(GPUAmount(thousandths: 250).isFractional)
        #expect(GPUAmount(thousandths: 2500).description == "2.5")
    }

    @Test func durations() throws {
        #expect(try TimeSpan.parse("30m").get().seconds == 1800)
        #expect(try TimeSpan.parse("1h30m").get().seconds == 5400)
        #expect(try TimeSpan.parse("2d").get().description == "2d")
        #expect(try TimeSpan.parse("90s").get().description == "1m30s")
        #expect(TimeSpan.parse("0s") == .failure(.zero))
        #expect(TimeSpan.parse("12") == .failure(.malformed))
        #expect(TimeSpan.parse("30m1h") == .failure(.malformed))  // units largest first
        #expect(TimeSpan.parse("-5m") == .failure(.malformed))
    }

    @Test func images() throws {
        let py = try #require(ImageReference("python:3.12"))
        #expect(py.registry == "docker.io" && py.repository == "library/python" && py.tag == "3.12")
        let acme = try #require(ImageReference("registry.acme.example/agents/support:0.9.0"))
        #expect(acme.registry == "registry.acme.example" && acme.repository == "agents/support")
        #expect(acme.isAllowed(by: "registry.acme.example"))
        #expect(acme.isAllowed(by: "registry.acme.example/agents"))
        #expect(!acme.isAllowed(by: "registry.acme"))
        #expect(!acme.isAllowed(by: "registry.acme.example/age"))
        let local = try #require(ImageReference("localhost:5000/x"))
        #expect(local.registry == "localhost:5000" && local.tag == nil)
        #expect(ImageReference("Registry.example/UPPER") == nil)
        #expect(ImageReference("a//b") == nil)
        #expect(ImageReference("x@sha256:short") == nil)
    }

    /// The byte-level parser reads every reference as the plain reading of the rules does: split at `@`, then at `/`,
    /// the first part a registry when it has a dot, a colon or is localhost, the tag after the last colon.
    @Test func imagesParseAsTheRulesSay() async {
        func reference(_ text: String) -> (String, String, String?, String?)? {
            guard !text.isEmpty, !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || ($0 >= 0x41 && $0 <= 0x5A) }) else { return nil }
            var rest = Substring(text)
            var digest: String?
            if let at = rest.firstIndex(of: "@") {
                let d = rest[rest.index(after: at)...]
                guard d.hasPrefix("sha256:"), d.count == 71 else { return nil }
                digest = String(d)
                rest = rest[..<at]
            }
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
            let hasRegistry = parts.count > 1 && (parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost")
            var path = (hasRegistry ? parts.dropFirst() : parts[...]).joined(separator: "/")
            var tag: String?
            if let colon = path.lastIndex(of: ":") {
                let t = String(path[path.index(after: colon)...])
                guard !t.isEmpty, t.count <= 128 else { return nil }
                tag = t
                path = String(path[..<colon])
            }
            guard !path.isEmpty, !path.contains(":") else { return nil }
            if !hasRegistry && !path.contains("/") { path = "library/" + path }
            return (hasRegistry ? String(parts[0]) : "docker.io", path, tag, digest)
        }
        let pieces = ["a", "b1", "localhost", "reg.io", "host:5000", "x.y:1", ":", "/", "//", "@", ".", "-", "_", "Up", "é", " ",
                      "sha256:", "@sha256:" + String(repeating: "a", count: 64), String(repeating: "t", count: 130), ":latest", ":1.2"]
        await propertyCheck(count: 5000, input: Gen.int(in: 0...5), Gen.uint64(in: 0...UInt64.max)) { length, seed in
            var state = seed
            var text = ""
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text += pieces[Int(state >> 33) % pieces.count]
            }
            let got = ImageReference(text)
            let want = reference(text)
            #expect(got?.registry == want?.0 && got?.repository == want?.1 && got?.tag == want?.2 && got?.digest == want?.3, "\(text)")
        }
    }

    @Test func modelsAndReplicas() {
        #expect(ModelReference("ranker@7")?.version == "7")
        #expect(ModelReference("ranker") == nil)
        #expect(ModelReference("Ranker@7") == nil)
        #expect(ReplicaRange.parse("2..6") == ReplicaRange(min: 2, max: 6))
        #expect(ReplicaRange.parse("3") == ReplicaRange(min: 3, max: 3))
        #expect(ReplicaRange.parse("2-6") == nil)
    }

    @Test func diagnosticsAreSortedAndDeduplicated() {
        let a = Diagnostic.error(at: SourceLocation(file: "b.yaml", line: 1, column: 1), "x", rule: "r")
        let b = Diagnostic.warning(at: SourceLocation(file: "a.yaml", line: 9, column: 2), "y", rule: "s")
        let c = Diagnostic.error(at: SourceLocation(file: "a.yaml", line: 9, column: 2), "z", rule: "t")
        #expect([a, b, c, a].normalized() == [c, b, a])
        #expect(c.headline == "a.yaml:9:2: error: z [t]")
    }
}
