import Foundation
import Testing
import TarmacTesting

/// `tarmac up --store`: a URL it cannot use is refused before anything starts, with the reason.
@Suite struct StoreOptionTests {
    func up(_ args: [String]) throws -> ProcessResult {
        let dir = try TemporaryDirectory(prefix: "tarmac-store-option")
        var env = ProcessInfo.processInfo.environment
        env["TARMAC_CREDENTIALS"] = dir.path + "/credentials.json"
        env["TARMAC_STORE"] = nil
        return try Run.program(Fixtures.tarmacBinary, ["up", "--data", dir.path + "/data", "--port", String(try TestPorts.free()),
                                                       "--platform", Fixtures.examplePlatform] + args, environment: env)
    }

    @Test func aServerThatIsNotThereIsSaidAfterTheConnectTimeout() throws {
        // A loopback port nothing listens on: every connection is refused.
        let r = try up(["--store", "postgres://tarmac@127.0.0.1:\(try TestPorts.free())/tarmac?sslmode=disable"])
        #expect(r.status == 5, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("cannot use the store at postgres://tarmac@127.0.0.1:") && r.stderr.contains("is the server running"), "\(r.stderr)")
    }

    @Test func aURLThatIsNotOneIsAUsageError() throws {
        let r = try up(["--store", "postgres://127.0.0.1/tarmac"])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("names no user"), "\(r.stderr)")
        let leader = try up(["--leader-elect"])
        #expect(leader.status == 2 && leader.stderr.contains("--leader-elect needs a --store"), "\(leader.stderr)")
    }
}
