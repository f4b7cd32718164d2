import Foundation
import TarmacCore
import TarmacRuntime

/// Submits `n` one-task BatchJobs of size `tiny` (team `bench`, env `dev`; `TEST_OUTCOME=run` keeps their pods running
/// on the test control plane) from `submitters` clients at once, as users do; returns their ids in submission order.
func submitBenchJobs(_ cp: ControlPlane, n: Int, prefix: String, submitters: Int) async throws -> [String] {
    let admin = Principal(tokenID: "bench", name: "bench", role: .admin, team: nil)
    let run = UInt32.random(in: 0...UInt32.max)
    return try await withThrowingTaskGroup(of: (Int, String).self) { g in
        var next = 0
        func add() {
            let i = next
            next += 1
            g.addTask {
                let doc = """
                apiVersion: tarmac.dev/v1alpha1
                kind: BatchJob
                metadata: {name: \(prefix)\(run)-\(i), team: bench, env: dev}
                spec:
                  size: tiny
                  tasks: 1
                  parallelism: 1
                  image: docker.io/library/busybox:1.36
                  command: [sh, -c, "sleep 600"]
                  env: {TEST_OUTCOME: run}
                """
                return (i, try await cp.submit(text: doc, requestID: nil, by: admin, runsImages: true).workload.id)
            }
        }
        while next < min(max(1, submitters), n) { add() }
        var out = Array(repeating: "", count: n)
        for try await (i, id) in g {
            out[i] = id
            if next < n { add() }
        }
        return out
    }
}
