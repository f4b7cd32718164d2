import Foundation
import TarmacModel

/// One workload as the control plane knows it: what was submitted, by whom, and where it is in its life.
/// A value; the store persists it before any backend acts on a change.
public struct WorkloadEntry: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var team: String
    public var env: String
    public var kind: String
    public var owner: String?
    /// Who submitted it (a human or automation identity, never a workload identity).
    public var submittedBy: String
    /// The client's request id: a retried submit with the same id returns this workload instead of creating one.
    public var requestID: String?
    public var size: String
    public var podCount: Int
    public var priority: Int
    /// The submitted document, as received (YAML or JSON).
    public var source: String
    public var state: WorkloadState
    /// Why it waits, or what happened (human readable).
    public var message: String?
    /// Triage of a failure (`OutOfMemory`, `DeadlineExceeded`, `ApplicationError`, `LostOnRestart`, ...).
    public var cause: String?
    /// Attempts made so far (an attempt starts at admission).
    public var attempt: Int
    public var maxAttempts: Int
    public var cancelRequested: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var admittedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// GPU- and CPU-seconds are accounted up to here in the current attempt (a service's replica count changed).
    public var accountedUntil: Date?
    /// Not to be admitted before (retry backoff).
    public var notBefore: Date?
    /// An inference service scaled to zero by idle reclaim, since then: it is not admitted until a request through the
    /// inference gateway wakes it.
    public var scaledToZeroAt: Date?
    public var placements: [PodPlacement]
    /// What its team's quota was charged: CPU millis, memory MiB, GPU thousandths by model name.
    public var charged: Charge?
    public var exitCode: Int?
    /// Accounted when it finishes: GPU-seconds and CPU core-seconds of all attempts.
    public var gpuSeconds: Double
    public var cpuSeconds: Double
    /// Memory GiB-seconds of all attempts (nil in entries stored before it was accounted: none).
    public var memoryGiBSeconds: Double?
    /// The last checkpoint the workload reported (any attempt): preemption then loses only the work since it.
    public var lastCheckpoint: CheckpointMark?
    /// The uploaded working directory its pods start in (`sha256:...`), if any.
    public var workdir: String?
    /// The numbers of the last failure (exit code, memory, time), for `why` to show as fields.
    public var failure: FailureFacts?

    public init(id: String, name: String, team: String, env: String, kind: String, owner: String?, submittedBy: String,
                requestID: String?, size: String, podCount: Int, priority: Int, source: String, maxAttempts: Int, now: Date) {
        self.id = id
        self.name = name
        self.team = team
        self.env = env
        self.kind = kind
        self.owner = owner
        self.submittedBy = submittedBy
        self.requestID = requestID
        self.size = size
        self.podCount = podCount
        self.priority = priority
        self.source = source
        self.state = .queued
        self.attempt = 0
        self.maxAttempts = maxAttempts
        self.cancelRequested = false
        self.createdAt = now
        self.updatedAt = now
        self.placements = []
        self.gpuSeconds = 0
        self.cpuSeconds = 0
    }

    /// The stored form of a client's request id: scoped to who may reuse it (see `Principal.requestScope`).
    public static func scopedRequestID(_ raw: String, scope: String) -> String { scope + "\u{1F}" + raw }

    /// The request id as the client sent it (ids stored before scoping are returned as they are).
    public var clientRequestID: String? {
        guard let r = requestID else { return nil }
        guard let sep = r.firstIndex(of: "\u{1F}") else { return r }
        return String(r[r.index(after: sep)...])
    }

    /// A stable digest of this value (for audit records' before/after).
    public var digest: String { Digest.sha256Hex(Self.canonicalJSON(self)) }

    static func canonicalJSON(_ w: WorkloadEntry) -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .millisecondsSince1970
        return (try? enc.encode(w)) ?? Data()
    }
}

/// A checkpoint a workload reported having saved (stored; the API shows it as `CheckpointView`).
public struct CheckpointMark: Codable, Sendable, Hashable {
    public var at: Date
    public var attempt: Int
    /// The training step (or any monotonic progress count) it holds.
    public var step: Int64?
    public var location: String?
    public init(at: Date, attempt: Int, step: Int64? = nil, location: String? = nil) {
        self.at = at
        self.attempt = attempt
        self.step = step
        self.location = location
    }
}

/// Where one pod of an admitted workload runs (stored; the API shows it as `PlacementView`).
public struct PodPlacement: Codable, Sendable, Hashable {
    public var node: String
    /// GPU indices on that node.
    public var gpus: [Int]
    /// Share of each GPU in thousandths (1000: whole GPUs; 0: no GPU).
    public var gpuMilli: Int
    public init(node: String, gpus: [Int], gpuMilli: Int) {
        self.node = node
        self.gpus = gpus
        self.gpuMilli = gpuMilli
    }
}

/// What is known of a failed attempt, in numbers.
public struct FailureFacts: Codable, Sendable, Hashable {
    public var pod: Int?
    public var exitCode: Int?
    public var signal: Int?
    public var peakMemoryBytes: Int64?
    public var memoryLimitBytes: Int64?
    public var maxDurationSeconds: Int64?
    public var ranSeconds: Int64?
    /// What the failure looked like (cause, exit, the last lines of the log with numbers blanked): two attempts in a
    /// row with the same signature failed the same way.
    public var signature: String?

    public init(pod: Int? = nil, exitCode: Int? = nil, signal: Int? = nil, peakMemoryBytes: Int64? = nil, memoryLimitBytes: Int64? = nil,
                maxDurationSeconds: Int64? = nil, ranSeconds: Int64? = nil, signature: String? = nil) {
        self.signature = signature
        self.pod = pod
        self.exitCode = exitCode
        self.signal = signal
        self.peakMemoryBytes = peakMemoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.maxDurationSeconds = maxDurationSeconds
        self.ranSeconds = ranSeconds
    }
}

/// Resources charged against a team's quota.
public struct Charge: Codable, Sendable, Hashable {
    public var cpuMilli: Int64
    public var memoryMiB: Int64
    public var gpuMilli: [String: Int64]

    public init(cpuMilli: Int64, memoryMiB: Int64, gpuMilli: [String: Int64]) {
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpuMilli = gpuMilli
    }
}

extension WorkloadEntry {
    /// The SPIFFE ID of this workload's pods in a trust domain (`Platform.trustDomain`): a workload identity, never
    /// the identity of the person who submitted it.
    public func spiffeID(trustDomain td: String) -> String {
        return SPIFFEID.workload(trustDomain: td, team: team, env: env, kind: kind, name: name)?.description
            ?? "spiffe://\(td)/workload/\(id)"
    }
}

