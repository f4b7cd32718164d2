import Foundation
import TarmacTesting
import Testing

extension ServerTests {
/// The durable metering ledger through a real `tarmac up` (#27): `tarmac cost` sums what workloads used, exactly what
/// their own records say; after a kill -9 and a restart the totals are those before plus what ran since; members see
/// their team's lines only; `-o csv` is a table a spreadsheet reads.
@Suite struct CostTests {
    static func write(_ server: TestServer, _ name: String, _ text: String) throws -> String { try server.dir.write("cost/\(name).yaml", text) }

    static func total(_ server: TestServer, _ token: String, by: String = "team") throws -> [String: Any] {
        let r = try server.cli(["cost", "--by", by, "-o", "json"], token: token)
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { throw TestFailure("cost: \(r.stdout)\(r.stderr)") }
        return o
    }

    static func cpuHours(_ o: [String: Any]) -> Double { (o["total"] as? [String: Any])?["cpuHours"] as? Double ?? -1 }

    @Test func theLedgerSumsWhatRanAndSurvivesAKill() async throws {
        let server = try TestServer()
        try await server.start()
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        #expect(try server.cli(["submit", try Self.write(server, "first", Doc.training("first", script: "import time; time.sleep(1)"))], token: member).status == 0)
        let first = try await server.waitFor("first") { $0["state"] as? String == "succeeded" }
        let firstCPU = try #require(first["cpuSeconds"] as? Double)
        #expect(firstCPU >= 1, "one CPU for at least a second: \(first)")
        let before = try Self.total(server, member)
        #expect(abs(Self.cpuHours(before) * 3600 - firstCPU) < 1e-6, "the ledger holds what the workload used: \(before) vs \(firstCPU)")

        // A second workload runs while the control plane is killed and started again; then it is cancelled.
        #expect(try server.cli(["submit", try Self.write(server, "second", Doc.training("second", script: "import time; time.sleep(120)"))], token: member).status == 0)
        _ = try await server.waitFor("second") { $0["state"] as? String == "running" }
        try await Task.sleep(for: .seconds(1))
        server.stop(signal: SIGKILL)
        try await server.start()
        try await Task.sleep(for: .seconds(1))
        #expect(try server.cli(["cancel", "second"], token: member).status == 0)
        let second = try await server.waitFor("second") { ["cancelled", "succeeded", "failed"].contains($0["state"] as? String ?? "") }
        let secondCPU = try #require(second["cpuSeconds"] as? Double)
        #expect(secondCPU >= 2, "\(second)")
        let after = try Self.total(server, member)
        #expect(abs(Self.cpuHours(after) * 3600 - (firstCPU + secondCPU)) < 1e-6, "before plus what ran since: \(after) vs \(firstCPU) + \(secondCPU)")
        // By workload: each line is that workload's own record.
        let lines = (try Self.total(server, member, by: "workload")["items"] as? [[String: Any]] ?? [])
        let byName = Dictionary(uniqueKeysWithValues: lines.compactMap { l -> (String, Double)? in
            guard let k = (l["keys"] as? [String: String])?["workload"], let c = l["cpuHours"] as? Double else { return nil }
            return (String(k.prefix { $0 != " " }), c * 3600)
        })
        #expect(abs((byName["first"] ?? 0) - firstCPU) < 1e-6 && abs((byName["second"] ?? 0) - secondCPU) < 1e-6, "\(byName)")

        // Another team sees none of it; CSV is a header and a row per line.
        #expect((try Self.total(server, ads)["items"] as? [Any])?.isEmpty == true)
        let csv = try server.cli(["cost", "--by", "user,day", "-o", "csv"], token: member)
        let rows = csv.stdout.split(separator: "\r\n").map(String.init)
        #expect(csv.status == 0 && rows.count == 2 && rows[0].contains("keys.user") && rows[0].contains("cpuHours") && rows[1].contains("member-search"),
                "\(csv.stdout)")
        let text = try server.cli(["cost", "--by", "user"], token: member)
        #expect(text.status == 0 && text.stdout.contains("USER") && text.stdout.contains("TOTAL") && text.stdout.contains("member-search"), "\(text.stdout)")
        // OpenCost's shape: the namespace's core-hours are the ledger's; idle is what the nodes offered less what was held.
        let admin = try server.adminToken
        let (status, o) = try await server.json(.GET, "/v1/allocation?window=today&aggregate=namespace&includeIdle=true", token: admin)
        let set = try #require((o["data"] as? [[String: Any]])?.first, "\(status) \(o)")
        let ns = try #require(set["search-dev"] as? [String: Any], "\(set.keys)")
        #expect(abs((ns["cpuCoreHours"] as? Double ?? 0) * 3600 - (firstCPU + secondCPU)) < 1e-6, "\(ns)")
        #expect(abs((ns["totalCost"] as? Double ?? 0) - ((ns["cpuCost"] as? Double ?? 0) + (ns["ramCost"] as? Double ?? 0) + (ns["gpuCost"] as? Double ?? 0))) < 1e-12)
        let idle = try #require(set["__idle__"] as? [String: Any], "\(set.keys)")
        let nodes = (try await server.json(.GET, "/v1/platform", token: admin).1["nodes"] as? [[String: Any]] ?? [])
        let cores = nodes.reduce(0.0) { $0 + Double($1["cpuMilli"] as? Int ?? 0) / 1000 }
        let hours = (idle["minutes"] as? Double ?? 0) / 60
        #expect(cores > 0 && abs(((idle["cpuCoreHours"] as? Double ?? 0) + (ns["cpuCoreHours"] as? Double ?? 0)) / hours - cores) < 1e-6,
                "idle \(idle["cpuCoreHours"] ?? "-") + held \(ns["cpuCoreHours"] ?? "-") over \(hours) h = \(cores) cores")
        #expect(try await server.json(.GET, "/v1/allocation?window=today&includeIdle=true", token: member).1["data"].map { ($0 as? [[String: Any]])?.first?["__idle__"] == nil } == true,
                "a member sees no platform-wide idle")
        #expect(try await server.json(.GET, "/v1/allocation?window=fortnight", token: member).0 == 400)
        #expect(try await server.json(.GET, "/v1/allocation?aggregate=namespce", token: member).0 == 400)
        let wrong = try server.cli(["cost", "--by", "tem"], token: member)
        #expect(wrong.status != 0 && wrong.stderr.contains("did you mean 'team'?"), "\(wrong.stderr)")
    }
}
}
