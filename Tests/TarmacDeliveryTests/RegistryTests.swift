import Foundation
import PropertyBased
import TarmacDelivery
import TarmacTesting
import Testing

@Suite struct SemanticVersionTests {
    static func v(_ s: String) throws -> SemanticVersion { try SemanticVersion.parse(s).get() }

    /// SemVer 2.0.0 §11's own example, in order.
    @Test func precedenceFollowsTheSpecification() throws {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
                       "1.0.1", "1.1.0", "2.0.0"]
        let versions = try ordered.map(Self.v)
        for (a, b) in zip(versions, versions.dropFirst()) { #expect(a < b && !(b < a), "\(a) < \(b)") }
        #expect(try Self.v("1.0.0+build.1").hasSamePrecedence(as: Self.v("1.0.0+build.2")))
        #expect(try Self.v("2.0.0-rc.1+sha.5114f85").description == "2.0.0-rc.1+sha.5114f85")
    }

    @Test(arguments: ["1.0", "v1.0.0", "1.0.0-", "01.0.0", "1.0.0-01", "1.0.0+", "1..0", "1.0.0-a..b", "1.0.0-ä", ""])
    func whatIsNotAVersionSaysWhy(_ text: String) {
        guard case .failure(let p) = SemanticVersion.parse(text) else { Issue.record("\(text) was accepted"); return }
        #expect(p.description.contains("is not a semantic version") && p.description.contains("'\(text)'"), "\(p)")
    }

    /// A strict total order (build metadata aside): sorting agrees with `<`, and `<` is irreflexive and transitive.
    @Test func precedenceIsAStrictOrder() async {
        let ids = ["alpha", "beta", "rc", "1", "2", "11", "x-y"]
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            let vs = (0..<12).map { _ in
                SemanticVersion(major: rng.int(3), minor: rng.int(3), patch: rng.int(3), prerelease: (0..<rng.int(3)).map { _ in rng.pick(ids) })
            }
            for a in vs {
                #expect(!(a < a))
                for b in vs { for c in vs where a < b && b < c { #expect(a < c) } }
            }
            let sorted = vs.sorted()
            for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(!(b < a)) }
            for a in vs { #expect(SemanticVersion.parse(a.description) == .success(a)) }
        }
    }
}

@Suite struct ModelManifestTests {
    /// Each file's digest is what coreutils' sha256sum says; sizes are exact; paths sorted; the canonical form reads back
    /// and nothing else does.
    @Test func aDirectorysManifestMatchesSha256sumAndReadsBack() throws {
        let dir = try TemporaryDirectory()
        try dir.write("model/config.json", #"{"layers": 12}"#)
        try dir.write("model/weights/part-0.bin", String(repeating: "w", count: 3_000_000))
        try dir.write("model/tokenizer.json", "{}")
        let m = try ModelManifest.of(directory: dir.path + "/model")
        #expect(m.files.map(\.path) == ["config.json", "tokenizer.json", "weights/part-0.bin"])
        #expect(m.files.map(\.size) == [14, 2, 3_000_000])
        if let sum = Run.which("sha256sum") {
            for f in m.files {
                let out = try Run.program(sum, [dir.path + "/model/" + f.path]).stdout
                #expect(out.hasPrefix(f.sha256 + " "), "\(f.path): \(out)")
            }
        }
        #expect(try ModelManifest.read(canonical: m.canonical) == m)
        var pretty = m.canonical
        pretty.insert(0x20, at: 1)
        #expect(throws: ManifestProblem.notCanonical) { try ModelManifest.read(canonical: pretty) }
        #expect(m.digest.hasPrefix("sha256:") && m.digest.count == 71)
    }

    /// One byte changed after registration, a file removed or added: each is named.
    @Test func changedMissingAndExtraFilesAreNamed() throws {
        let dir = try TemporaryDirectory()
        try dir.write("m/a.bin", "aaaa")
        try dir.write("m/b.bin", "bbbb")
        let registered = try ModelManifest.of(directory: dir.path + "/m")
        #expect(registered.differences(from: try ModelManifest.of(directory: dir.path + "/m")).isEmpty)
        try dir.write("m/a.bin", "aaab")
        try FileManager.default.removeItem(atPath: dir.path + "/m/b.bin")
        try dir.write("m/c.bin", "c")
        let found = try ModelManifest.of(directory: dir.path + "/m")
        let d = registered.differences(from: found)
        #expect(d.count == 3 && d.contains { $0.hasPrefix("a.bin: changed") } && d.contains("b.bin: missing") && d.contains("c.bin: not in the registered manifest"), "\(d)")
    }

    /// A link is not part of a model: what is served must be what was hashed.
    @Test func aSymbolicLinkIsRefused() throws {
        let dir = try TemporaryDirectory()
        try dir.write("m/a.bin", "a")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/m/link", withDestinationPath: "/etc/passwd")
        #expect(throws: ManifestProblem.notAFile("link")) { try ModelManifest.of(directory: dir.path + "/m") }
    }
}

@Suite struct ManifestSignatureTests {
    static let openssl = Run.which("openssl")

    /// Signatures made by the real tool: `openssl dgst -sha256 -sign` over the canonical manifest verifies with the
    /// trusted public key; the same signature over another manifest, or checked against another key, does not.
    @Test(.enabled(if: openssl != nil, "needs the openssl command (Debian's openssl package; .ci/run installs it)"))
    func opensslSignaturesVerifyAndOnlyOverTheirManifest() throws {
        let ssl = try #require(Self.openssl)
        let dir = try TemporaryDirectory()
        for name in ["key", "other"] {
            #expect(try Run.program(ssl, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir.path + "/\(name).pem"]).status == 0)
            #expect(try Run.program(ssl, ["ec", "-in", dir.path + "/\(name).pem", "-pubout", "-out", dir.path + "/\(name).pub"]).status == 0)
        }
        let manifest = ModelManifest(files: [.init(path: "weights.bin", sha256: String(repeating: "ab", count: 32), size: 42)])
        let other = ModelManifest(files: [.init(path: "weights.bin", sha256: String(repeating: "cd", count: 32), size: 42)])
        try manifest.canonical.write(to: URL(fileURLWithPath: dir.path + "/manifest.json"))
        #expect(try Run.program(ssl, ["dgst", "-sha256", "-sign", dir.path + "/key.pem", "-out", dir.path + "/sig.der", dir.path + "/manifest.json"]).status == 0)
        let signature = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/sig.der")).base64EncodedString()
        let trusted = ManifestSignature.TrustedKey(name: "release-team", pem: try String(contentsOfFile: dir.path + "/key.pub", encoding: .utf8))
        let stranger = ManifestSignature.TrustedKey(name: "someone", pem: try String(contentsOfFile: dir.path + "/other.pub", encoding: .utf8))
        #expect(ManifestSignature.verify(signature, over: manifest, trusting: [stranger, trusted]) == .valid(key: "release-team"))
        guard case .invalid(let why) = ManifestSignature.verify(signature, over: other, trusting: [trusted]) else {
            Issue.record("a signature over another manifest verified"); return
        }
        #expect(why.contains("does not verify") && why.contains("release-team"), "\(why)")
        #expect(ManifestSignature.verify(signature, over: manifest, trusting: [stranger]) != .valid(key: "someone"))
    }

    @Test func garbageIsRefusedWithTheReason() {
        let m = ModelManifest(files: [])
        let key = ManifestSignature.TrustedKey(name: "k", pem: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
        #expect(ManifestSignature.verify("%%%", over: m, trusting: [key]) == .invalid("the signature is not base64"))
        #expect(ManifestSignature.verify("AAAA", over: m, trusting: [key]) == .invalid("the signature is not a DER-encoded ECDSA P-256 signature"))
        #expect(ManifestSignature.verify("AAAA", over: m, trusting: []) == .invalid("no key is trusted for signatures here"))
    }
}
