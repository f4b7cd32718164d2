import Foundation

/// A workload as the API shows it (`GET /v1/workloads/{ref}`): the server's answer and the CLI's and portal's type.
/// The submitted document is left out; it can be large.
public struct WorkloadView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var team: String
    public var env: String
    /// TrainingJob, BatchJob, InferenceService or Agent.
    public var kind: String
    public var owner: String?
    public var submittedBy: String
    public var requestID: String?
    public var size: String
    public var pods: Int
    public var priority: Int
    /// queued, admitted, running, succeeded, failed, cancelled or rejected.
    public var state: String
    public var message: String?
    public var cause: String?
    public var attempt: Int
    public var maxAttempts: Int
    public var cancelRequested: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var admittedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var placements: [PlacementView]
    public var exitCode: Int?
    public var gpuSeconds: Double
    public var cpuSeconds: Double
    public var lastCheckpoint: CheckpointView?
    /// Where a service's replicas answer (one URL per replica), when known.
    public var endpoints: [String]?
    /// Only in the answer to a submit: what validation and the feasibility check warn about.
    public var warnings: [DiagnosticPayload]?
    /// In GET of one workload holding GPUs, where telemetry reads them: its latest GPU reading.
    public var gpu: WorkloadTelemetryView?
    /// In GET of one workload: its team's budget, when the team is warned or over it.
    public var budget: String?
    /// What its GPU- and CPU-seconds so far cost at the contract's rates (`get` only).
    public var cost: Double?
    /// The cluster its current attempt is placed on, when the platform has several.
    public var cluster: String?

    public init(id: String, name: String, team: String, env: String, kind: String, owner: String? = nil, submittedBy: String,
                requestID: String? = nil, size: String, pods: Int, priority: Int, state: String, message: String? = nil, cause: String? = nil,
                attempt: Int, maxAttempts: Int, cancelRequested: Bool, createdAt: Date, updatedAt: Date, admittedAt: Date? = nil,
                startedAt: Date? = nil, finishedAt: Date? = nil, placements: [PlacementView], exitCode: Int? = nil, gpuSeconds: Double,
                cpuSeconds: Double, lastCheckpoint: CheckpointView? = nil, endpoints: [String]? = nil, warnings: [DiagnosticPayload]? = nil) {
        self.id = id
        self.name = name
        self.team = team
        self.env = env
        self.kind = kind
        self.owner = owner
        self.submittedBy = submittedBy
        self.requestID = requestID
        self.size = size
        self.pods = pods
        self.priority = priority
        self.state = state
        self.message = message
        self.cause = cause
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.cancelRequested = cancelRequested
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.admittedAt = admittedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.placements = placements
        self.exitCode = exitCode
        self.gpuSeconds = gpuSeconds
        self.cpuSeconds = cpuSeconds
        self.lastCheckpoint = lastCheckpoint
        self.endpoints = endpoints
        self.warnings = warnings
    }

    /// Whether it ended for good.
    public var isTerminal: Bool { ["succeeded", "failed", "cancelled", "rejected"].contains(state) }
}

/// Where one pod runs.
public struct PlacementView: Codable, Sendable, Hashable {
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

/// The last checkpoint a workload reported.
public struct CheckpointView: Codable, Sendable, Hashable {
    public var at: Date
    public var attempt: Int
    public var step: Int64?
    public var location: String?
    public init(at: Date, attempt: Int, step: Int64? = nil, location: String? = nil) {
        self.at = at
        self.attempt = attempt
        self.step = step
        self.location = location
    }
}

/// `POST /v1/workloads/{ref}/checkpoint`: what a workload reports having saved (both optional).
public struct CheckpointRequest: Codable, Sendable, Hashable {
    /// The training step (or any monotonic progress count) the checkpoint holds.
    public var step: Int64?
    /// Where it is: a path or URL, at most 1024 bytes.
    public var location: String?
    public init(step: Int64? = nil, location: String? = nil) {
        self.step = step
        self.location = location
    }
}

public struct WorkloadList: Codable, Sendable, Hashable {
    public var items: [WorkloadView]
    public init(items: [WorkloadView]) { self.items = items }
}
