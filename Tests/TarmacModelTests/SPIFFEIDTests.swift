import PropertyBased
import Testing
@testable import TarmacModel

/// SPIFFE IDs as the specification allows them, and workload IDs built from names the contract accepts.
@Suite struct SPIFFEIDTests {
    @Test func workloadIDsNameTeamEnvironmentKindAndName() {
        let id = SPIFFEID.workload(trustDomain: "acme", team: "search", env: "dev", kind: "TrainingJob", name: "ranker-ft")
        #expect(id?.description == "spiffe://acme/team/search/env/dev/trainingjob/ranker-ft")
        #expect(SPIFFEID(id!.description) == id)
    }

    @Test(arguments: ["spiffe://Acme/x", "spiffe://acme/", "spiffe://acme//x", "spiffe://acme/./x", "spiffe://acme/x/..", "spiffe://ac me/x",
                      "spiffe://acme:443/x", "spiffe://user@acme/x", "spiffe://acme/x?y=1", "spiffe://acme/x#f", "https://acme/x", "spiffe://",
                      "spiffe://acme/" + String(repeating: "a", count: 2048)])
    func whatTheSpecificationForbidsIsRefused(_ text: String) {
        #expect(SPIFFEID(text) == nil, "\(text)")
    }

    @Test func trustDomainsFromPlatformNames() {
        #expect(SPIFFEID.trustDomain(forPlatform: "acme") == "acme")
        #expect(SPIFFEID.trustDomain(forPlatform: "Acme Corp/GPU") == "acme-corp-gpu")
        #expect(SPIFFEID.trustDomain(forPlatform: "") == "tarmac")
    }

    /// Any DNS-label team, environment and name give an ID that reads back as itself.
    @Test func workloadIDsRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var state = seed
            func label() -> String {
                let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-")
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let n = Int(state >> 59) + 1
                return String((0..<n).map { i in alphabet[Int((state >> UInt64(i % 58)) % UInt64(alphabet.count))] })
            }
            let (team, env, name) = (label(), label(), label())
            let id = SPIFFEID.workload(trustDomain: "acme", team: team, env: env, kind: "BatchJob", name: name)
            #expect(id != nil, "\(team) \(env) \(name)")
            #expect(id.flatMap { SPIFFEID($0.description) } == id)
        }
    }
}
