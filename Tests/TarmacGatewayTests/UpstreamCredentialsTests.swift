import Logging
import Synchronization
import Testing
import TarmacGateway
import TarmacModel

/// The gateway's own credentials: from the environment locally; from a Secret on Kubernetes, where a failed read keeps
/// the values read before and a missing key says which Secret lacks it.
@Suite struct UpstreamCredentialsTests {
    static func tool(_ credential: String?) -> Tool {
        var t = Tool(name: "helpdesk", endpoint: "http://127.0.0.1:9")
        t.upstream = "http://127.0.0.1:9"
        t.upstreamCredential = credential
        return t
    }

    @Test func fromASecretKeptAcrossAFailedRead() async throws {
        let answers = Mutex<[Result<[String: String], TestReadError>]>([.success(["HELPDESK_TOKEN": "one"]), .failure(TestReadError()), .success(["OTHER": "x"])])
        let credentials = UpstreamCredentials(source: .secret(place: "tarmac-system/tarmac-gateway", read: {
            try answers.withLock { $0.removeFirst() }.get()
        }), logger: Logger(label: "test"))
        #expect(throws: MissingCredential.self) { try credentials.value(for: Self.tool("HELPDESK_TOKEN")).get() }
        await credentials.load()
        #expect(try credentials.value(for: Self.tool("HELPDESK_TOKEN")).get() == "one")
        #expect(try credentials.value(for: Self.tool(nil)).get() == nil)
        await credentials.load()  // the API server is unreachable: the last values stay
        #expect(try credentials.value(for: Self.tool("HELPDESK_TOKEN")).get() == "one")
        await credentials.load()  // the key was removed from the Secret
        let missing = credentials.value(for: Self.tool("HELPDESK_TOKEN"))
        guard case .failure(let why) = missing else { Issue.record("a removed key must not be used: \(missing)"); return }
        #expect(why.description == "the gateway has no credential for 'helpdesk': key HELPDESK_TOKEN is missing from Secret tarmac-system/tarmac-gateway")
    }

    @Test func fromTheEnvironment() throws {
        let credentials = UpstreamCredentials(source: .environment, logger: Logger(label: "test"))
        #expect(try credentials.value(for: Self.tool("PATH")).get() != nil)
        let missing = credentials.value(for: Self.tool("TARMAC_TEST_NOT_SET_ANYWHERE"))
        guard case .failure(let why) = missing else { Issue.record("\(missing)"); return }
        #expect(why.description.contains("TARMAC_TEST_NOT_SET_ANYWHERE is not set in tarmac up's environment"))
    }
}

struct TestReadError: Error {}
