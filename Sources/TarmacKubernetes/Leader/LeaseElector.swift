import Foundation
import Logging
import Synchronization

/// Leader election through a `coordination.k8s.io/v1` Lease on the API server, as Kubernetes' own controllers do it
/// (the decisions are `LeaderElection`'s; this is the I/O): reads the Lease, creates or replaces it with the
/// resourceVersion it read (a conflict means another candidate wrote first), every retry period.
public actor LeaseElector {
    let client: KubeClient
    public nonisolated let namespace: String
    public nonisolated let name: String
    public nonisolated let identity: String
    private var election: LeaderElection
    private let now: @Sendable () -> Date
    private let logger: Logger
    /// The last successful write of this candidate as leader.
    private var lastRenewal: Date?
    /// Who held the Lease at the last read (nil: nobody, or not read yet).
    public private(set) var holder: String?
    /// What that holder said about itself in the Lease's annotations (where it serves: `LeaderAddress`).
    public private(set) var holderAnnotations: [String: String] = [:]
    /// What this candidate writes in the Lease's annotations while it holds it.
    public nonisolated let annotations: [String: String]

    public init(client: KubeClient, namespace: String, name: String, identity: String, settings: LeaderElectionSettings = LeaderElectionSettings(),
                annotations: [String: String] = [:], now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "tarmac.leader")) throws {
        try settings.validate()
        self.client = client
        self.annotations = annotations
        self.namespace = namespace
        self.name = name
        self.identity = identity
        election = LeaderElection(identity: identity, settings: settings)
        self.now = now
        self.logger = logger
    }

    var path: String { "/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases/\(name)" }

    /// Waits until this candidate holds the Lease (trying every retry period); cancellable.
    public func acquire() async throws {
        var announced: String?
        while true {
            try Task.checkCancellation()
            switch await attempt() {
            case .led: return
            case .held(let holder):
                if announced != holder {
                    logger.info("waiting to lead", metadata: ["holder": "\(holder)", "lease": "\(namespace)/\(name)"])
                    announced = holder
                }
            case .failed: break
            }
            try await Task.sleep(for: jittered(election.settings.retryPeriod))
        }
    }

    /// Renews every retry period while this candidate leads; returns why it stopped leading: a renewal refused (another
    /// holds the Lease), or no renewal within the renew deadline, counted from the last one, whether the API server
    /// answered with errors or not at all (each try is cut off at the deadline, as client-go's is). A process that was
    /// paused past the deadline steps down when it wakes, before it asks anything. Cancellable.
    public func holdUntilLost() async throws -> String {
        let deadline = election.settings.renewDeadline
        while true {
            try await Task.sleep(for: election.settings.retryPeriod)
            let remaining = (lastRenewal ?? now()).addingTimeInterval(Self.seconds(deadline)).timeIntervalSince(now())
            guard remaining > 0 else {
                return "no renewal of the Lease \(namespace)/\(name) within the renew deadline (\(deadline))"
            }
            // The try is abandoned at the deadline, not awaited: a connection that hangs (its TLS handshake, say) is
            // not given up by the HTTP client until its own timeout.
            let attempt = Task { await self.attempt() }
            let outcome: Attempt? = await withCheckedContinuation { (c: CheckedContinuation<Attempt?, Never>) in
                let once = Once()
                Task {
                    let a = await attempt.value
                    if once.claim() { c.resume(returning: a) }
                }
                Task {
                    try? await Task.sleep(for: .milliseconds(Int64(remaining * 1000)))
                    if once.claim() {
                        attempt.cancel()
                        c.resume(returning: nil)
                    }
                }
            }
            try Task.checkCancellation()
            switch outcome {
            case .led?: continue
            case .held(let holder)?: return "the Lease \(namespace)/\(name) is held by \(holder) now"
            case .failed(let why)?:
                if let last = lastRenewal, election.mustStepDown(lastRenewal: last, now: now()) {
                    return "no renewal of the Lease \(namespace)/\(name) within the renew deadline (\(deadline)); last error: \(why)"
                }
            case nil:
                return "no renewal of the Lease \(namespace)/\(name) within the renew deadline (\(deadline)): the API server did not answer"
            }
        }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    /// Gives the Lease up (an empty holder), so that another candidate leads at once instead of after the lease
    /// duration; only if this candidate holds it.
    public func release() async {
        guard let (lease, rv) = try? await read(), lease?.holder == identity, var record = lease else { return }
        record.holder = ""
        record.leaseDurationSeconds = 1
        record.renewTime = now()
        _ = try? await client.replace(path, Self.object(record, name: name, namespace: namespace, resourceVersion: rv, annotations: [:]))
        lastRenewal = nil
    }

    enum Attempt { case led, held(String), failed(String) }

    /// One try to acquire or renew.
    func attempt() async -> Attempt {
        do {
            let (lease, rv, said) = try await readAnnotated()
            holder = lease.flatMap { $0.holder.isEmpty ? nil : $0.holder }
            holderAnnotations = holder == nil ? [:] : said
            let t = now()
            switch election.decide(lease: lease, now: t) {
            case .held(let holder, _): return .held(holder)
            case .create(let record):
                _ = try await client.create("/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases", Self.object(record, name: name, namespace: namespace, resourceVersion: nil, annotations: annotations))
                election.wrote(record, now: t)
                lastRenewal = t
                return .led
            case .update(let record):
                _ = try await client.replace(path, Self.object(record, name: name, namespace: namespace, resourceVersion: rv, annotations: annotations))
                election.wrote(record, now: t)
                lastRenewal = t
                return .led
            }
        } catch let e as KubeError where e.isConflict {
            return .failed("another candidate wrote the Lease first")
        } catch {
            return .failed("\(error)")
        }
    }

    /// The Lease and its resourceVersion (nil: there is none).
    func read() async throws -> (LeaseRecord?, String?) {
        let (record, rv, _) = try await readAnnotated()
        return (record, rv)
    }

    /// The Lease, its resourceVersion and its annotations.
    func readAnnotated() async throws -> (LeaseRecord?, String?, [String: String]) {
        let o: [String: Any]
        do { o = try await client.get(path) } catch let e as KubeError where e.isNotFound { return (nil, nil, [:]) }
        let meta = o["metadata"] as? [String: Any] ?? [:]
        let spec = o["spec"] as? [String: Any] ?? [:]
        let record = LeaseRecord(holder: spec["holderIdentity"] as? String ?? "", leaseDurationSeconds: spec["leaseDurationSeconds"] as? Int ?? 0,
                                 acquireTime: (spec["acquireTime"] as? String).flatMap(MicroTime.parse) ?? .distantPast,
                                 renewTime: (spec["renewTime"] as? String).flatMap(MicroTime.parse) ?? .distantPast,
                                 transitions: spec["leaseTransitions"] as? Int ?? 0)
        return (record, meta["resourceVersion"] as? String, meta["annotations"] as? [String: String] ?? [:])
    }

    static func object(_ r: LeaseRecord, name: String, namespace: String, resourceVersion: String?, annotations: [String: String]) -> [String: Any] {
        var meta: [String: Any] = ["name": name, "namespace": namespace, "labels": ["app.kubernetes.io/name": "tarmac"]]
        if let resourceVersion { meta["resourceVersion"] = resourceVersion }
        if !annotations.isEmpty { meta["annotations"] = annotations }
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": ["holderIdentity": r.holder, "leaseDurationSeconds": r.leaseDurationSeconds, "acquireTime": MicroTime.format(r.acquireTime),
                         "renewTime": MicroTime.format(r.renewTime), "leaseTransitions": r.transitions]]
    }

    /// client-go's jitter for acquiring: a retry period plus up to 20% of it.
    func jittered(_ d: Duration) -> Duration { d + d * Double.random(in: 0..<0.2) }
}

/// True for the first caller only.
final class Once: Sendable {
    private let claimed = Mutex(false)
    func claim() -> Bool { claimed.withLock { c in defer { c = true }; return !c } }
}

/// Kubernetes' MicroTime: RFC 3339 with microseconds, `2026-12-07T17:30:00.123456Z`.
enum MicroTime {
    static func format(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        let base = f.string(from: Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded(.down)))
        let micros = Int((d.timeIntervalSince1970 - d.timeIntervalSince1970.rounded(.down)) * 1_000_000)
        return String(base.dropLast()) + String(format: ".%06dZ", min(micros, 999_999))
    }

    static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        guard let dot = s.firstIndex(of: ".") else { return f.date(from: s) }
        let digits = s[s.index(after: dot)...].prefix { $0.isNumber }
        let rest = s[s.index(after: dot)...].dropFirst(digits.count)
        guard let base = f.date(from: String(s[..<dot]) + rest) else { return nil }
        return base.addingTimeInterval((Double("0." + digits) ?? 0))
    }
}
