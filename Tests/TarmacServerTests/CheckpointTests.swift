import Foundation
import Testing
import TarmacTesting

extension ServerTests {
/// A real pod reports its checkpoint over real HTTP with the credential it was given; `get` and `why` show it; the
/// credential works for that workload's attempt only and for nothing else.
@Suite struct CheckpointTests {
    @Test func aPodReportsItsCheckpointWithItsOwnCredential() async throws {
        let server = try TestServer()
        try await server.start()
        let token = try server.adminToken
        let script = """
            import json, os, time, urllib.request
            req = urllib.request.Request(os.environ['TARMAC_CHECKPOINT_URL'], method='POST',
                data=json.dumps({'step': 1200, 'location': '/ckpt/1200'}).encode(),
                headers={'Authorization': 'Bearer ' + os.environ['TARMAC_CHECKPOINT_TOKEN'], 'Content-Type': 'application/json'})
            print('checkpoint', urllib.request.urlopen(req).status, flush=True)
            # The same credential must not read anything else.
            try:
                urllib.request.urlopen(urllib.request.Request(os.environ['TARMAC_CHECKPOINT_URL'].rsplit('/', 3)[0] + '/workloads',
                    headers={'Authorization': 'Bearer ' + os.environ['TARMAC_CHECKPOINT_TOKEN']}))
                print('list allowed', flush=True)
            except urllib.error.HTTPError as e:
                print('list refused', e.code, flush=True)
            time.sleep(30)
            """
        let (status, w) = try await server.json(.POST, "/v1/workloads", token: token, body: Doc.training("ckpt", script: script))
        #expect(status == 201)
        let id = try #require(w["id"] as? String)
        let got = try await server.waitFor(id) { ($0["lastCheckpoint"] as? [String: Any])?["step"] as? Int == 1200 }
        let mark = try #require(got["lastCheckpoint"] as? [String: Any])
        #expect(mark["location"] as? String == "/ckpt/1200" && mark["attempt"] as? Int == 1)
        for _ in 0..<50 where !(try server.cli(["logs", id]).stdout.contains("list")) { try await Task.sleep(for: .milliseconds(100)) }
        let logs = try server.cli(["logs", id]).stdout
        #expect(logs.contains("checkpoint 200") && logs.contains("list refused 403"), "\(logs)")
        let why = try server.cli(["why", id]).stdout
        #expect(why.contains("last checkpoint") && why.contains("step 1200 at /ckpt/1200"), "\(why)")
        #expect(try server.cli(["get", id]).stdout.contains("step 1200"))
        // A made-up credential is refused, and the audit names the workload (not a person) as the actor.
        let forged = try await server.http(.POST, "/v1/workloads/\(id)/checkpoint", token: "tck_" + String(repeating: "0", count: 64), body: "{}")
        #expect(forged.0 == 401)
        let audit = try await server.json(.GET, "/v1/audit?limit=1000", token: token)
        let records = try #require(audit.1["items"] as? [[String: Any]])
        let ck = try #require(records.first { $0["action"] as? String == "checkpoint" })
        #expect(ck["actorKind"] as? String == "workload" && (ck["actorID"] as? String)?.hasSuffix("/trainingjob/ckpt") == true)
        #expect(try server.cli(["cancel", id]).status == 0)
    }
}
}
