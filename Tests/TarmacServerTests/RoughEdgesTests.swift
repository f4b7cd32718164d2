import Foundation
import Testing
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

extension ServerTests {
/// The rough edges a newcomer hit in the first hour, each as the real CLI now says it.
@Suite struct RoughEdgesTests {
    @Test func aJobCancelledWhileQueuedSaysSoInsteadOfWaitingForLogs() async throws {
        let server = try TestServer(arguments: ["--cpus", "1"])
        try await server.start()
        _ = try server.cli(["submit", try server.dir.write("first.yaml", Doc.command("first", ["sleep", "60"]))])
        _ = try server.cli(["submit", try server.dir.write("second.yaml", Doc.command("second", ["sleep", "60"]))])
        _ = try await server.waitFor("second") { $0["state"] as? String == "queued" }
        let cancelled = try server.cli(["cancel", "--wait", "second"])
        #expect(cancelled.status == 0 && cancelled.stdout == "TrainingJob second: cancelled\n", "\(cancelled.stdout)\(cancelled.stderr)")
        for args in [["logs", "second"], ["logs", "-f", "second"]] {
            let r = try server.cli(args)
            #expect(r.status == 3, "\(args): \(r.status)")
            #expect(r.stderr.contains("workload second was cancelled before it ran: it has no logs"), "\(args): \(r.stderr)")
        }
        // A running one: cancelling, then (with --wait) how it ended, in that order and without repeating itself.
        let running = try server.cli(["cancel", "--wait", "first"])
        #expect(running.stdout == "TrainingJob first: cancelling; waiting for its pods to stop\nTrainingJob first: cancelled\n", "\(running.stdout)")
        #expect(!running.stderr.contains("cancelled — cancelled"), "\(running.stderr)")
        let why = try server.cli(["why", "first"])
        #expect(why.stdout.hasPrefix("first (") && why.stdout.contains(") was cancelled"), "\(why.stdout)")
    }

    @Test func aDirectoryIsSubmittedDocumentByDocumentAndEachRefusalSaidOnce() async throws {
        let server = try TestServer()
        try await server.start()
        let r = try server.cli(["submit", "examples/workloads"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("5 of 8 workloads submitted; 3 refused"), "\(r.stdout)")
        // ranker-serve is told both things at once: no command for a local pod, and no L4s here.
        #expect(r.stderr.contains("examples/workloads/ranker-serve.yaml:13:1: error: this control plane runs workloads as local processes, so spec.command is required"), "\(r.stderr)")
        #expect(r.stderr.contains("examples/workloads/ranker-serve.yaml:14:9: error: cannot start here: this machine has no l4 GPUs (it has: none)"), "\(r.stderr)")
        let never = r.stderr.components(separatedBy: "this machine has no h100 GPUs").count - 1
        #expect(never == 1, "ranker-ft's refusal is said once: \(r.stderr)")
        // One file with one document: the refusal once, with its place.
        let one = try server.cli(["submit", "examples/workloads/ranker-ft.yaml"])
        #expect(one.status == 1 && one.stderr.components(separatedBy: "this machine has no h100 GPUs").count - 1 == 1, "\(one.stderr)")
        #expect(one.stderr.hasPrefix("examples/workloads/ranker-ft.yaml:"), "\(one.stderr)")
        // Nothing to submit is a usage error.
        try FileManager.default.createDirectory(atPath: server.dir.path + "/empty", withIntermediateDirectories: true)
        let empty = try server.cli(["submit", server.dir.path + "/empty"])
        #expect(empty.status == 2 && empty.stderr.contains("holds no .yaml, .yml or .json file"), "\(empty.stderr)")
        let none = try server.cli(["submit", "no/such/file.yaml"])
        #expect(none.status == 2 && none.stderr.contains("no such file or directory 'no/such/file.yaml'"), "\(none.stderr)")
    }

    @Test func usageErrorsExitTwoAndNameWhatIsValid() async throws {
        let server = try TestServer()
        try await server.start()
        let bogus = try server.cli(["list", "--state", "bogus"])
        #expect(bogus.status == 2, "\(bogus.stderr)")
        #expect(bogus.stderr.contains("unknown --state 'bogus'; use one of queued, admitted, running, succeeded, failed, cancelled, rejected"), "\(bogus.stderr)")
        let kind = try server.cli(["list", "--kind", "trainingjob"])
        #expect(kind.status == 2 && kind.stderr.contains("did you mean 'TrainingJob'?"), "\(kind.stderr)")
        let empty = try server.cli(["list"])
        #expect(empty.status == 0 && empty.stderr == "no workloads\n", "\(empty.stderr)")
    }

    @Test func sizesSaysWhatThisServerCanStartAndWhyNotTheRest() async throws {
        let server = try TestServer()
        try await server.start()
        let r = try server.cli(["sizes", "--team", "search", "--class", "training"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.first == "CLASS SIZE RESOURCES HERE", "\(r.stdout)")
        #expect(lines.contains("training cpu-small 1 CPU, 1Gi, no GPU starts"), "\(r.stdout)")
        #expect(lines.contains("training large 8 h100 GPUs, 96 CPUs, 900Gi no: this machine has no h100 GPUs (it has: none)"), "\(r.stdout)")
        // Smallest first.
        #expect(lines.dropFirst().first?.hasPrefix("training cpu-small") == true, "\(r.stdout)")
        let json = try server.cli(["sizes", "--team", "search", "-o", "json"])
        let items = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["items"] as? [[String: Any]])
        #expect(items.contains { $0["name"] as? String == "cpu-small" && $0["startsHere"] as? Bool == true })
        #expect(items.contains { $0["name"] as? String == "gpu" && $0["startsHere"] as? Bool == false && ($0["why"] as? String)?.contains("no l4 GPUs") == true })
        // A size that does not exist: the valid ones of its class, each with what it is, CPU-only ones first for a cpu name.
        let doc = Doc.command("lc", ["true"], size: "large-cpu")
        let bad = try server.cli(["submit", try server.dir.write("lc.yaml", doc)])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unknown training size 'large-cpu'; did you mean 'cpu-small' (1 CPU, 1Gi, no GPU)? training sizes: cpu-small (1 CPU, 1Gi, no GPU), large (8 h100 GPUs, 96 CPUs, 900Gi)"), "\(bad.stderr)")
    }

    @Test func withSeveralServersTheCLINamesTheOneItUses() async throws {
        let a = try TestServer()
        try await a.start()
        let b = try TestServer()
        b.sharedCredentials = a.credentials
        try await b.start()
        // a's context stays current; the CLI says so now that the file holds two.
        let r = try a.cli(["list"])
        #expect(r.stderr.contains("(server http://127.0.0.1:\(a.port): context 127.0.0.1:\(a.port), one of 2 in \(a.credentials); --context NAME or TARMAC_SERVER chooses another)"), "\(r.stderr)")
        // Told which server, it says nothing.
        var env = a.environment
        env["TARMAC_SERVER"] = b.url
        let told = try Run.program(TestServer.binary, ["list"], cwd: Fixtures.root.path, environment: env)
        #expect(told.status == 0 && !told.stderr.contains("(server "), "\(told.stderr)")
    }
}
}
