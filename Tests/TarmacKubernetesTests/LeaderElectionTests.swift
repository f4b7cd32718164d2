import Foundation
import Logging
import Testing
import TarmacKubernetes
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Leader election's decisions, in virtual time (no sockets): Kubernetes' rules, judged by the candidate's own clock.
@Suite struct LeaderElectionTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theDefaultsAreKubernetesOwn() throws {
        let s = LeaderElectionSettings()
        #expect(s.leaseDuration == .seconds(15) && s.renewDeadline == .seconds(10) && s.retryPeriod == .seconds(2))
        try s.validate()
        #expect(throws: LeaderElectionError.self) { try LeaderElectionSettings(leaseDuration: .seconds(10), renewDeadline: .seconds(10)).validate() }
        #expect(throws: LeaderElectionError.self) { try LeaderElectionSettings(renewDeadline: .seconds(2), retryPeriod: .seconds(2)).validate() }
    }

    @Test func noLeaseIsCreatedAndOursIsRenewedKeepingItsAcquireTime() {
        var a = LeaderElection(identity: "a")
        guard case .create(let first) = a.decide(lease: nil, now: t0) else { Issue.record("no create"); return }
        #expect(first.holder == "a" && first.leaseDurationSeconds == 15 && first.transitions == 0 && first.acquireTime == t0)
        a.wrote(first, now: t0)
        let later = t0.addingTimeInterval(2)
        guard case .update(let renewed) = a.decide(lease: first, now: later) else { Issue.record("no renewal"); return }
        #expect(renewed.acquireTime == t0 && renewed.renewTime == later && renewed.transitions == 0)
    }

    @Test func anotherHoldersClaimLastsTheLeaseDurationFromWhenItWasSeenToChange() {
        var b = LeaderElection(identity: "b")
        // The record says it was renewed long ago (the holder's clock is behind): b still waits a full lease from now.
        let held = LeaseRecord(holder: "a", leaseDurationSeconds: 15, acquireTime: t0.addingTimeInterval(-3600), renewTime: t0.addingTimeInterval(-3600), transitions: 4)
        #expect(b.decide(lease: held, now: t0) == .held(by: "a", until: t0.addingTimeInterval(15)))
        #expect(b.decide(lease: held, now: t0.addingTimeInterval(14.9)) == .held(by: "a", until: t0.addingTimeInterval(15)))
        // a renews (the record changes): the wait starts again from when b saw that.
        var renewed = held
        renewed.renewTime = t0.addingTimeInterval(-3590)
        #expect(b.decide(lease: renewed, now: t0.addingTimeInterval(10)) == .held(by: "a", until: t0.addingTimeInterval(25)))
        // No renewal seen for a whole lease: b takes it over, one transition more.
        guard case .update(let taken) = b.decide(lease: renewed, now: t0.addingTimeInterval(25)) else { Issue.record("not taken over"); return }
        #expect(taken.holder == "b" && taken.transitions == 5 && taken.acquireTime == t0.addingTimeInterval(25))
    }

    @Test func aReleasedLeaseIsTakenAtOnce() {
        var b = LeaderElection(identity: "b")
        let released = LeaseRecord(holder: "", leaseDurationSeconds: 1, acquireTime: t0, renewTime: t0, transitions: 2)
        guard case .update(let taken) = b.decide(lease: released, now: t0) else { Issue.record("a released lease was not taken"); return }
        #expect(taken.holder == "b" && taken.transitions == 3)
    }

    @Test func aLeaderStepsDownAtTheRenewDeadline() {
        let a = LeaderElection(identity: "a")
        #expect(!a.mustStepDown(lastRenewal: t0, now: t0.addingTimeInterval(9.9)))
        #expect(a.mustStepDown(lastRenewal: t0, now: t0.addingTimeInterval(10)))
    }
}

extension RealCluster {
/// Two candidates on the real API server's Lease (the test control plane): one leads, the other waits; when the
/// leader stops renewing, the other leads after the lease duration; when it releases, at once.
@Suite struct LeaseElectorTests {
    @Test(.enabled(if: KubeRig.kubeconfig != nil, KubeRig.skipMessage))
    func oneLeadsTheOtherTakesOverWhenItStopsRenewing() async throws {
        let access = try KubeConfig.load(path: try #require(KubeRig.kubeconfig), context: nil)
        let client = try KubeClient(access, logger: Logger(label: "test"))
        let name = "tarmac-test-\(UInt32.random(in: 0...UInt32.max))"
        let fast = LeaderElectionSettings(leaseDuration: .seconds(3), renewDeadline: .seconds(2), retryPeriod: .milliseconds(250))
        let a = try LeaseElector(client: client, namespace: "default", name: name, identity: "replica-a", settings: fast,
                                 annotations: ["tarmac.dev/api-url": "http://10.0.0.1:8080"])
        let b = try LeaseElector(client: client, namespace: "default", name: name, identity: "replica-b", settings: fast,
                                 annotations: ["tarmac.dev/api-url": "http://10.0.0.2:8080"])
        defer { Task { try? await client.delete("/apis/coordination.k8s.io/v1/namespaces/default/leases/\(name)") } }
        try await a.acquire()
        let clock = ContinuousClock()
        // b waits while a renews.
        let bLeads = Task { try await b.acquire(); return clock.now }
        let aHolds = Task { try await a.holdUntilLost() }
        var renewals: Set<String> = []
        try await eventually("a renews its lease three times") {
            let spec = try await lease(client, name)
            if spec["holderIdentity"] as? String == "replica-a", let t = spec["renewTime"] as? String { renewals.insert(t) }
            return renewals.count >= 3
        }
        #expect(try await lease(client, name)["holderIdentity"] as? String == "replica-a")
        // What the holder says of itself (where it serves), as the waiting candidate read it: followers forward there.
        try await eventually("b has read a's address") { await b.holderAnnotations["tarmac.dev/api-url"] == "http://10.0.0.1:8080" }
        #expect(await b.holder == "replica-a")
        // a stops renewing (as a process paused or killed): b leads once a whole lease has passed without a renewal.
        aHolds.cancel()
        let stopped = clock.now
        let led = try await bLeads.value
        #expect(led - stopped >= .seconds(2), "b led \(led - stopped) after a's last renewal, within the lease")
        let spec = try await lease(client, name)
        #expect(spec["holderIdentity"] as? String == "replica-b" && spec["leaseTransitions"] as? Int == 1, "\(spec)")
        let meta = try await client.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/\(name)")["metadata"] as? [String: Any]
        #expect((meta?["annotations"] as? [String: String])?["tarmac.dev/api-url"] == "http://10.0.0.2:8080", "the new holder's address replaced the old one's")
        // a, back long after its last renewal, steps down at once, before it asks anything (as a paused process must).
        let why = try await a.holdUntilLost()
        #expect(why.contains("within the renew deadline"), "\(why)")
        // b releases: a leads at once.
        await b.release()
        let start = clock.now
        try await a.acquire()
        #expect(clock.now - start < .seconds(2))
        #expect(try await lease(client, name)["holderIdentity"] as? String == "replica-a")
    }

    func lease(_ client: KubeClient, _ name: String) async throws -> [String: Any] {
        try await client.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/\(name)")["spec"] as? [String: Any] ?? [:]
    }
}
}

/// A leader whose API server stops answering (a blackhole: connections accepted, never answered) steps down at the
/// renew deadline, not after the client's own timeouts and retries.
@Suite struct LeaseElectorDeadlineTests {
    @Test func aLeaderStepsDownAtTheRenewDeadlineWhenTheAPIServerDoesNotAnswer() async throws {
        let hole = try Blackhole()
        defer { hole.close() }
        let client = try KubeClient(ClusterAccess(server: "https://127.0.0.1:\(hole.port)", token: "t", source: "test"), logger: Logger(label: "test"))
        let settings = LeaderElectionSettings(leaseDuration: .seconds(3), renewDeadline: .seconds(2), retryPeriod: .milliseconds(250))
        let elector = try LeaseElector(client: client, namespace: "default", name: "x", identity: "a", settings: settings)
        let clock = ContinuousClock()
        let start = clock.now
        let why = try await elector.holdUntilLost()
        let took = clock.now - start
        // Cut off at the deadline: the client alone would try 6 times, 30 s each. (Under a loaded test run the timer
        // fires late, so the bound is loose; alone it steps down after about 2.2 s.)
        #expect(why.contains("within the renew deadline"), "\(why)")
        #expect(took >= .seconds(2) && took < .seconds(60), "stepped down after \(took)")
    }
}

/// A TCP port that accepts connections (the kernel's backlog) and never reads or answers.
final class Blackhole: @unchecked Sendable {
    let fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        port = ok ? Int(UInt16(bigEndian: addr.sin_port)) : 0
        guard ok else { throw TestTimeout("no blackhole port") }
    }
    func close() { _ = Glibc.close(fd) }
}
