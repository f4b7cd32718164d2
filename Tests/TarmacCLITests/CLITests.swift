import Foundation
import Testing
import TarmacTesting

/// Drives the real `tarmac` executable, as users and scripts do.
@Suite struct CLITests {
    static let binary = Fixtures.tarmacBinary

    func tarmac(_ args: String..., cwd: String? = Fixtures.root.path) throws -> ProcessResult {
        try Run.program(Self.binary, args, cwd: cwd, environment: ["NO_COLOR": "1", "TARMAC_PLATFORM": ""])
    }

    @Test func validateExamplesExitsZero() throws {
        let r = try tarmac("validate", "--platform", "examples/platform/platform.yaml", "examples/workloads")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("9 documents in 7 files: 0 errors, 0 warnings"))
    }

    @Test(arguments: Fixtures.files(in: Fixtures.invalidDir + "/workloads").map { ($0 as NSString).lastPathComponent })
    func validateBrokenDocumentExitsOne(_ name: String) throws {
        let dir = "Tests/Fixtures/invalid/workloads"
        let r = try tarmac("validate", "--platform", "examples/platform/platform.yaml", "\(dir)/\(name)")
        #expect(r.status == 1)
        let headlines = r.stdout.split(separator: "\n").filter { !$0.hasPrefix("    help:") }.map { $0.replacingOccurrences(of: dir + "/", with: "") }
        #expect(headlines == Fixtures.expectations(at: Fixtures.invalidDir + "/workloads/\(name).expect"))
    }

    @Test func validateBrokenPlatformExitsOne() throws {
        let r = try tarmac("validate", "Tests/Fixtures/invalid/platforms/references/platform.yaml")
        #expect(r.status == 1)
        #expect(r.stdout.contains("platform.yaml:8:24: error: pool 'gpu' names unknown accelerator 'h10'; did you mean 'h100'? [unknown-reference]"))
    }

    @Test func validateJSONOutput() throws {
        let r = try tarmac("validate", "-o", "json", "--platform", "examples/platform/platform.yaml", "Tests/Fixtures/invalid/workloads/capacity.yaml")
        #expect(r.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let first = (json?["diagnostics"] as? [[String: Any]])?.first
        #expect(first?["rule"] as? String == "capacity")
        #expect((first?["location"] as? [String: Any])?["line"] as? Int == 6)
    }

    @Test func workloadsWithoutPlatformAreCheckedForStructureWithANote() throws {
        let r = try tarmac("validate", "examples/workloads/ranker-ft.yaml")
        #expect(r.status == 0)
        #expect(r.stderr.contains("note: no platform given"))
    }

    @Test func missingFileIsAnError() throws {
        let r = try tarmac("validate", "no/such.yaml")
        #expect(r.status == 1)
        #expect(r.stdout.contains("error: no such file or directory 'no/such.yaml' [file]"))
    }

    @Test func explainPrintsSourcesAndFailsOnTypos() throws {
        let r = try tarmac("explain", "--platform", "examples/platform/platform.yaml", "--env", "prod", "inference/s")
        #expect(r.status == 0)
        #expect(r.stdout.contains("memory       20Gi   examples/platform/environments/prod.yaml:"))
        let bad = try tarmac("explain", "--platform", "examples/platform/platform.yaml", "--env", "prd", "s")
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unknown environment 'prd'; did you mean 'prod'?"))
        let json = try tarmac("explain", "--platform", "examples/platform/platform.yaml", "-o", "json", "large")
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(obj?["subject"] as? String == "training/large")
    }

    @Test func renderWritesDeterministicTreeAndNothingOnError() throws {
        let dir = try TemporaryDirectory()
        let out = dir.path + "/out"
        let r = try tarmac("render", "--platform", "examples/platform/platform.yaml", "--out", out, "examples/workloads")
        #expect(r.status == 0, "\(r.stderr)")
        let first = Fixtures.files(in: out)
        #expect(first.contains(out + "/search-dev/job-ranker-ft.yaml"))
        #expect(first.contains(out + "/_cluster/validatingadmissionpolicy-tarmac-gpu-via-tarmac.yaml"))
        let bytes = try first.map { try String(contentsOfFile: $0, encoding: .utf8) }
        // Again: same bytes; a second render replaces the tree.
        #expect(try tarmac("render", "--platform", "examples/platform/platform.yaml", "--out", out, "examples/workloads").status == 0)
        #expect(try Fixtures.files(in: out).map { try String(contentsOfFile: $0, encoding: .utf8) } == bytes)
        // Only the platform now: the workloads' files disappear, so a GitOps diff shows the removal.
        #expect(try tarmac("render", "--platform", "examples/platform/platform.yaml", "--out", out).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/search-dev/job-ranker-ft.yaml"))
        // A broken workload: exit 1, and the tree is untouched.
        let before = Fixtures.files(in: out)
        let bad = try tarmac("render", "--platform", "examples/platform/platform.yaml", "--out", out, "examples/workloads", "Tests/Fixtures/invalid/workloads/unknown-size.yaml")
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("nothing written"))
        #expect(Fixtures.files(in: out) == before)
    }

    @Test func renderRefusesForeignDirectory() throws {
        let dir = try TemporaryDirectory()
        try dir.write("keep.txt", "mine")
        let r = try tarmac("render", "--platform", "examples/platform/platform.yaml", "--out", dir.path)
        #expect(r.status != 0)
        #expect(r.stderr.contains("was not written by tarmac render"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/keep.txt"))
    }

    @Test func renderToStdoutIsAYAMLStream() throws {
        let r = try tarmac("render", "--platform", "examples/platform/platform.yaml", "--env", "prod", "--stdout", "examples/workloads/ranker-serve.yaml")
        #expect(r.status == 0)
        #expect(r.stdout.contains("kind: Deployment"))
        #expect(!r.stdout.contains("namespace: search-dev"))
    }

    @Test func simulateAContractAndRefuseTypos() throws {
        let r = try tarmac("simulate", "--platform", "examples/platform/platform.yaml", "--workloads", "60", "--policy", "bestfit", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(json?.first?["policy"] as? String == "BestFit")
        let total = ["completed", "failed", "neverAdmitted"].compactMap { json?.first?[$0] as? Int }.reduce(0, +)
        #expect(total > 40)
        let typo = try tarmac("simulate", "--platform", "examples/platform/platform.yaml", "--add", "train-h10=4")
        #expect(typo.status == 2, "a usage error exits with 2, as documented")
        #expect(typo.stderr.contains("unknown pool 'train-h10'; did you mean 'train-h100'?"))
        let policy = try tarmac("simulate", "--platform", "examples/platform/platform.yaml", "--policy", "fgdd")
        #expect(policy.stderr.contains("did you mean 'FGD'?"))
        let noTrace = try tarmac("simulate", "--trace", "alibaba:/nonexistent")
        #expect(noTrace.status == 2 && noTrace.stderr.contains("no trace at /nonexistent"))
    }

    @Test func helpHasExamples() throws {
        for command in ["validate", "explain", "render", "simulate", "schema"] {
            let r = try tarmac(command, "--help")
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"), "\(command) --help")
        }
        #expect(try tarmac("frobnicate").status == 2)
    }

    /// On an 80-column terminal no example of any command's help is wrapped in the middle (a comment that no longer fits
    /// goes on a line of its own), and every command users run has examples.
    @Test func examplesFitAnEightyColumnTerminal() throws {
        let env = ["NO_COLOR": "1", "TARMAC_PLATFORM": "", "COLUMNS": "80"]
        let top = try Run.program(Self.binary, ["--help"], cwd: Fixtures.root.path, environment: env).stdout
        let commands = top.components(separatedBy: "SUBCOMMANDS:").last!.split(separator: "\n")
            .compactMap { $0.hasPrefix("  ") && !$0.hasPrefix("   ") ? $0.split(separator: " ").first.map(String.init) : nil }
            .filter { $0.first?.isLowercase == true && !["help", "pod-supervisor", "pod-exec"].contains($0) }
        #expect(commands.count >= 20 && commands.contains("sizes"), "\(commands)")
        for c in commands + ["token create", "grant approve", "audit list"] {
            let help = try Run.program(Self.binary, c.split(separator: " ").map(String.init) + ["--help"], cwd: Fixtures.root.path, environment: env).stdout
            guard let block = help.components(separatedBy: "Examples:\n").dropFirst().first else {
                #expect(c.contains(" ") || ["keys", "token", "grant", "audit"].contains(c), "\(c) --help has no examples")
                continue
            }
            for line in block.split(separator: "\n", omittingEmptySubsequences: false).prefix(while: { !$0.isEmpty }) {
                #expect(line.hasPrefix("  "), "\(c) --help wraps an example: '\(line)'")
            }
        }
    }
}
