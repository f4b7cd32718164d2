import TarmacCore
import Crypto
import Foundation

/// Checkpoints reported by workloads: the engine weighs the work a preemption would lose from the last one, `get` and
/// `why` show it, and a resumed attempt is told where to resume from.
extension ControlPlane {
    /// The URL and credential a workload's pods report checkpoints with (nil when pods cannot reach the API).
    /// The credential is bound to the workload and attempt, so it ends with the attempt; it is derived from the
    /// control plane's credential key, never stored.
    func checkpointAccess(_ e: WorkloadEntry) -> CheckpointAccess? {
        guard let base = config.advertiseURL else { return nil }
        return CheckpointAccess(url: "\(base)/v1/workloads/\(e.id)/checkpoint", token: checkpointToken(workload: e.id, attempt: e.attempt))
    }

    nonisolated func checkpointToken(workload: String, attempt: Int) -> String {
        "tck_" + credentialMAC("checkpoint", workload, String(attempt))
    }

    /// A workload credential derived from the control plane's credential key (never stored): hex HMAC-SHA256 of the
    /// fields joined by U+001F.
    nonisolated func credentialMAC(_ fields: String...) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(fields.joined(separator: "\u{1F}").utf8), using: config.credentialKey)
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Compares a presented credential with the expected one in time that does not depend on where they differ.
    nonisolated static func sameCredential(_ given: some StringProtocol, _ expected: String) -> Bool {
        let (g, e) = (Array(given.utf8), Array(expected.utf8))
        return g.count == e.count && zip(g, e).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Whether `token` is the checkpoint credential of the workload's current attempt.
    func acceptsCheckpointToken(_ token: String, for e: WorkloadEntry) -> Bool {
        guard e.state.holdsCapacity else { return false }
        return Self.sameCredential(token, checkpointToken(workload: e.id, attempt: e.attempt))
    }

    /// The workload a request is about, and who makes it: a person (who may read its team), or one of its pods with its
    /// attempt's credential (`workloadToken`), acting as the workload.
    func caller(for ref: String, by principal: Principal?, workloadToken: String?) throws -> (WorkloadEntry, AuditActor) {
        if let principal { return (try find(ref, by: principal), principal.actor) }
        guard let token = workloadToken, let e = tracked[ref]?.entry, acceptsCheckpointToken(token, for: e) else {
            throw RuntimeError(.unauthorized, "a valid bearer token or the workload's credential of its current attempt (TARMAC_CHECKPOINT_TOKEN) is required")
        }
        return (e, AuditActor(kind: .workload, id: machine.identity(e)))
    }

    /// The working directory (digest) of a workload, for one of its pods or a person who may read the workload's team.
    public func workdir(of ref: String, by principal: Principal?, workloadToken: String?) throws -> String {
        let (e, _) = try caller(for: ref, by: principal, workloadToken: workloadToken)
        guard let digest = e.workdir else { throw RuntimeError(.notFound, "workload \(e.name) has no working directory") }
        return digest
    }

    /// Records a checkpoint of a running workload, reported by one of its pods (`workloadToken`) or by a person who may
    /// change the workload's team.
    public func checkpoint(_ ref: String, step: Int64?, location: String?, by principal: Principal?, workloadToken: String?) async throws -> WorkloadEntry {
        let (e, actor) = try caller(for: ref, by: principal, workloadToken: workloadToken)
        if let principal, !principal.canChange(team: e.team) {
            throw RuntimeError(.forbidden, "\(principal.name) (\(principal.role.rawValue)) cannot report checkpoints for team \(e.team)")
        }
        guard e.state.holdsCapacity else {
            throw RuntimeError(.conflict, "workload \(e.name) is \(e.state.rawValue): only an admitted or running attempt can report a checkpoint")
        }
        if let location, location.utf8.count > 1024 { throw RuntimeError(.invalid, "location is longer than 1024 bytes") }
        if let step, step < 0 { throw RuntimeError(.invalid, "step must not be negative") }
        try await apply(e.id, .checkpointed(CheckpointMark(at: clock.now, attempt: e.attempt, step: step, location: location), by: actor))
        return tracked[e.id]?.entry ?? e
    }
}
