import Foundation
import TarmacDelivery
import TarmacModel
import TarmacContract
import TarmacPlanning

/// Everything a backend needs to run one pod of one attempt.
public struct PodLaunch: Codable, Sendable, Hashable {
    public var workload: String
    public var attempt: Int
    public var pod: Int
    public var command: [String]
    public var environment: [String: String]
    public var memoryLimitBytes: Int64
    public var cpuMilli: Int
    public var placement: PodPlacement
    /// Stop it at this time (the workload's maxDuration).
    public var deadline: Date?
    /// For batch jobs: the completion indices this pod runs, one after another (`JOB_COMPLETION_INDEX`).
    public var completionIndices: [Int]
    public var graceSeconds: Double
    /// The uploaded working directory the pod starts in (`sha256:...`), if any.
    public var workdir: String?
    /// Where the backend keeps that directory's archive for the pod (local backend: a file on this machine).
    public var workdirArchive: String?
    /// The pod's one-time identity bootstrap credential: the local backend puts it in a file only the pod can read
    /// (`TARMAC_IDENTITY_BOOTSTRAP_FILE`); on Kubernetes the pod proves itself with its service-account token instead.
    public var identityBootstrap: String?
    /// The registered model version it serves, when Tarmac keeps its files: laid out in the pod (`MODEL_DIR`) and each
    /// file's digest checked before its command starts; bytes changed since registration end the pod as `modelTampered`.
    public var model: ModelMount?

    public init(workload: String, attempt: Int, pod: Int, command: [String], environment: [String: String], memoryLimitBytes: Int64,
                cpuMilli: Int, placement: PodPlacement, deadline: Date?, completionIndices: [Int], graceSeconds: Double, workdir: String? = nil) {
        self.workdir = workdir
        self.workload = workload
        self.attempt = attempt
        self.pod = pod
        self.command = command
        self.environment = environment
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuMilli = cpuMilli
        self.placement = placement
        self.deadline = deadline
        self.completionIndices = completionIndices
        self.graceSeconds = graceSeconds
    }
}

/// What a backend found of a pod when the control plane starts again.
public enum PodRecovery: Sendable, Hashable {
    /// It never started: launch it.
    case notStarted
    /// Still running: watched again from now on.
    case running
    /// It ended while the control plane was away.
    case finished(PodExit)
}

/// A chunk of a pod's log.
public struct LogChunk: Sendable {
    public var data: Data
    public var nextOffset: Int64
    public init(data: Data, nextOffset: Int64) {
        self.data = data
        self.nextOffset = nextOffset
    }
}

/// A workload the control plane keeps (queued, admitted or running), as a backend needs to know it: with the plan it
/// was resolved to at submit, so a backend never resolves its document again.
public struct ActiveWorkload: Sendable, Hashable {
    public var id: String
    public var plan: WorkloadPlan
    /// The attempt it is in (0 while it has never been admitted).
    public var attempt: Int
    public var holdsCapacity: Bool
    public init(id: String, plan: WorkloadPlan, attempt: Int, holdsCapacity: Bool) {
        self.id = id
        self.plan = plan
        self.attempt = attempt
        self.holdsCapacity = holdsCapacity
    }

    public var workload: Workload { plan.workload }
}

/// The backend refused a workload for good (the cluster's admission rejected its objects): the workload fails with this message.
public struct BackendRejection: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Turns admitted placements into running things and reports how they end (DESIGN §3: one engine, several backends).
public protocol Backend: Sendable {
    /// The machines it can place on.
    func nodes() async throws -> [NodeInventory]
    /// Starts the pods of one attempt. Throws only if nothing was started.
    func launch(_ pods: [PodLaunch]) async throws
    /// Stops an attempt's pods: SIGTERM (or the backend's equivalent), then a hard kill after the grace period.
    func stop(workload: String, attempt: Int) async
    /// Pods that ended since the last call.
    func poll() async -> [PodExit]
    /// After a restart: what became of each pod of an attempt that was admitted or running.
    func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery]
    /// Reads a pod's log from a byte offset.
    func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk
    /// Waits until a pod's log may hold more than `offset` bytes, or `timeout` passes: a follower reads again then.
    /// A backend that can tell (local files: the kernel says) wakes at the new output; the default looks again
    /// every 200 ms.
    func waitForLog(workload: String, attempt: Int, pod: Int, beyond offset: Int64, timeout: Duration) async

    /// At start, before any recovery: every workload the store still keeps. A backend with objects of its own adopts the
    /// ones that belong to these and removes the rest.
    func reconcile(_ active: [ActiveWorkload]) async throws
    /// A workload was accepted into the queue: prepare what it needs ahead of admission (Kubernetes: its objects, suspended).
    /// Throws `BackendRejection` when the workload can never run; other errors are retried at admission.
    func accept(_ workload: ActiveWorkload) async throws
    /// The workload ended for good: free what it holds. Its logs stay readable.
    func release(workload: String) async

    /// Whether `started()` tells when an attempt's pods really run (Kubernetes: bound by the scheduler and running).
    /// A backend that does not (local processes start as they are launched) has its attempts counted running at launch.
    var reportsStarts: Bool { get }
    /// Attempts whose pods all run (or have run) now, reported once each.
    func started() async -> [AttemptRef]

    /// What autoscalers ask of running services now, by workload id: the replicas wanted, and the nodes of the replicas
    /// that run (for a scale-down: which slots are gone). Empty where the backend has no autoscaler.
    func desiredReplicas() async -> [String: ReplicaDemand]
    /// An attempt's pod slots changed (a replica admitted or let go): the node of each slot now.
    func resize(workload: String, attempt: Int, nodes: [String]) async throws

    /// Where a service's replicas answer (URLs), for `get`. Empty where the backend does not know.
    func endpoints(workload: String, attempt: Int, pods: Int) async -> [String]

    /// Whether its pods fetch a working directory from the control plane's API (so it needs an advertised URL).
    var fetchesWorkdirOverAPI: Bool { get }
    /// Registers what to call when the backend has something for the control plane's loop before its next tick (a pod
    /// ended); backends that are only polled ignore it.
    func onEvent(_ handler: @escaping @Sendable () -> Void) async

    /// How users call the nodes it has ("this machine", "the cluster"), in messages.
    var placeName: String { get }
    /// The pod a presented service-account token belongs to (Kubernetes: TokenReview for audience `tarmac`, then the
    /// pod it is bound to); nil when it is not genuine or this backend has no such tokens (local pods use bootstraps).
    func attest(serviceAccountToken: String) async -> PodAttestation?
    /// Whether its nodes can grow on their own (a cluster autoscaler): then a workload that cannot start on today's
    /// nodes is accepted with a warning instead of refused.
    var inventoryCanGrow: Bool { get }
    /// A new platform contract is in force (a reload): what the backend derives from it (Kubernetes: the platform's
    /// objects, pools) follows. Workloads keep the plan they were resolved with.
    func contractChanged(_ contract: Contract) async
}

/// What an autoscaler asks of one running service.
public struct ReplicaDemand: Hashable, Sendable {
    public var replicas: Int
    /// Nodes of the replicas that are placed and not going away, one entry per replica.
    public var runningOn: [String]
    public init(replicas: Int, runningOn: [String]) {
        self.replicas = replicas
        self.runningOn = runningOn
    }
}

/// One attempt of one workload.
public struct AttemptRef: Hashable, Sendable {
    public var workload: String
    public var attempt: Int
    /// When its pods really started, by the backend's own record (the latest of its pods' starts: the gang runs from
    /// then); nil where the backend does not know.
    public var at: Date?
    public init(workload: String, attempt: Int, at: Date? = nil) {
        self.workload = workload
        self.attempt = attempt
        self.at = at
    }
}

/// Which pod proved itself, by the backend's own means.
public struct PodAttestation: Sendable, Hashable {
    public var workload: String
    public var attempt: Int
    /// The pod's name, for the audit trail.
    public var pod: String
    public init(workload: String, attempt: Int, pod: String) {
        self.workload = workload
        self.attempt = attempt
        self.pod = pod
    }
}

extension Backend {
    public func attest(serviceAccountToken: String) async -> PodAttestation? { nil }
    public func reconcile(_ active: [ActiveWorkload]) async throws {}
    public func accept(_ workload: ActiveWorkload) async throws {}
    public func release(workload: String) async {}
    public var reportsStarts: Bool { false }
    public func started() async -> [AttemptRef] { [] }
    public func desiredReplicas() async -> [String: ReplicaDemand] { [:] }
    public func resize(workload: String, attempt: Int, nodes: [String]) async throws {}
    public func endpoints(workload: String, attempt: Int, pods: Int) async -> [String] { [] }
    public var placeName: String { "this machine" }
    public var fetchesWorkdirOverAPI: Bool { false }
    public func onEvent(_ handler: @escaping @Sendable () -> Void) async {}
    public var inventoryCanGrow: Bool { false }
    public func waitForLog(workload: String, attempt: Int, pod: Int, beyond offset: Int64, timeout: Duration) async {
        try? await Task.sleep(for: min(timeout, .milliseconds(200)))
    }
    public func contractChanged(_ contract: Contract) async {}
}

/// A registered model's files for a pod: what the registry's manifest says each file is, and (filled by the local
/// backend) where Tarmac keeps them.
public struct ModelMount: Codable, Sendable, Hashable {
    /// `ranker@1.0.0`.
    public var reference: String
    /// The team whose kept files they are.
    public var team: String
    public var manifestDigest: String
    public var files: [ModelManifest.File]
    /// The directory of the team's kept files (`DATA/models/TEAM`), set by the local backend.
    public var keptFiles: String?

    public init(reference: String, team: String, manifestDigest: String, files: [ModelManifest.File], keptFiles: String? = nil) {
        self.reference = reference
        self.team = team
        self.manifestDigest = manifestDigest
        self.files = files
        self.keptFiles = keptFiles
    }
}
