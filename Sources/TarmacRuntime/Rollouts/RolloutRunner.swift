import Foundation
import TarmacCore
import TarmacDelivery
import TarmacKinds
import TarmacModel
import Yams

/// Runs rollouts of InferenceServices: the effect runner around the pure `RolloutMachine`, as `ControlPlane` is around
/// the workload machine. A rollout starts the new version as a second InferenceService beside the one serving (a copy
/// of its document with the new model), waits until it serves, then lets the machine move the shares; the inference
/// gateway routes the service's requests by those shares (`routes`), and analysis windows are measured from the
/// gateway's samples (`MetricsSource`). Every step is an audit record; the version let go is cancelled.
public actor RolloutRunner {
    /// One service's rollout, running or ended (an ended one still says how the service is routed, and is what
    /// `rollback` works on).
    public struct Active: Sendable, Hashable, Codable {
        public var team: String
        public var service: String
        public var env: String
        public var spec: RolloutSpec
        /// Nil until the new version serves (then the machine starts).
        public var rollout: Rollout?
        public var previous: Side
        public var next: Side
        /// Shares by version label.
        public var weights: [String: Int]
        public var measureDue: Date?
        public var measureSeconds: Int64 = 0
        public var startedBy: String
        public var startedAt: Date
        /// Why it ended before its machine started (the new version did not come up).
        public var failure: String?
        /// A cold rollback: the previous version had to start again.
        public var cold = false
        /// Seconds the cold rollback took until the previous version served again.
        public var coldStartSeconds: Double?
        /// Versions let go, cancelled once the router has stopped sending them requests and those in flight ended.
        public var retiring: [Retiring] = []

        public var key: String { "\(team)/\(service)" }
        public var isOver: Bool { failure != nil || rollout?.isOver == true }
    }

    /// One version's side of a rollout: its model and the workload serving it (its id, and its name: the Service of
    /// that version on Kubernetes).
    public struct Side: Sendable, Hashable, Codable {
        public var model: ModelReference
        public var workload: String
        public var name: String
        public var label: String { model.version }
    }

    /// A workload let go, and when it is cancelled.
    public struct Retiring: Sendable, Hashable, Codable {
        public var workload: String
        public var at: Date
    }

    let controlPlane: ControlPlane
    /// Where analysis reads the versions' figures; nil when nothing measures them (a cluster without Tarmac's gateway
    /// in front and no Prometheus): rollouts without analysis only.
    let metrics: (any MetricsSource)?
    /// Whether a workload's replicas take requests now (the gateway would route to them).
    let serving: @Sendable (String) async -> Bool
    var active: [String: Active] = [:]
    /// Whether the rollouts kept in the store were read (at the first call after a start).
    var restored = false
    /// How long a version let go keeps serving what was already routed to it.
    public static let drain: TimeInterval = 5
    static let system = Principal(tokenID: "system-rollouts", name: "rollouts", role: .admin, team: nil)

    /// Whether the backend runs images (Kubernetes): then a version's document needs no command.
    let runsImages: Bool
    /// What says how services fail now (the gateway in process), for `why`: `metrics` unless given.
    let observed: (any MetricsSource)?

    public init(controlPlane: ControlPlane, metrics: (any MetricsSource)?, observed: (any MetricsSource)? = nil, runsImages: Bool = false,
                serving: @escaping @Sendable (String) async -> Bool) {
        self.controlPlane = controlPlane
        self.observed = observed ?? metrics
        self.runsImages = runsImages
        self.metrics = metrics
        self.serving = serving
    }

    var now: Date { controlPlane.clock.now }

    // MARK: requests

    /// Starts moving `service` (a running InferenceService of the caller's team) to the model version `to`.
    public func start(service: String, team: String?, to version: String, spec: RolloutSpec, by p: Principal) async throws -> Active {
        await restore()
        let stable = try await currentWorkload(service, team: team, by: p)
        return try await begin(stable, service: service, to: version, spec: spec, document: nil, requestID: nil, workdir: stable.entry.workdir, by: p)
    }

    /// A document that replaces a running service's: an InferenceService of the same team, environment and name as
    /// one serving now, naming another version of its model. With `spec.rollout` the new version rolls out that way
    /// (its workload runs this document; the environment's review gate looks at this document's digest); without it
    /// the submit is refused, saying how. nil: the document is not such a replacement (a new service, another kind, the
    /// same version, or a request already made), and is submitted as usual.
    public func startFromDocument(text: String, requestID: String?, workdir: String?, by p: Principal) async throws -> (rollout: Active, workload: WorkloadEntry)? {
        if let r = requestID, try await controlPlane.replayed(WorkloadEntry.scopedRequestID(r, scope: p.requestScope)) != nil { return nil }
        let prepared = try controlPlane.prepare(text: text, by: p, runsImages: runsImages, workdir: workdir)
        let w = prepared.workload
        guard case .inference(let d) = w.details else { return nil }
        await restore()
        guard let stable = try? await currentWorkload(w.metadata.name, team: w.metadata.team, by: p), stable.entry.env == w.metadata.env else { return nil }
        guard stable.model.name == d.model.name else {
            throw RuntimeError(.conflict, "InferenceService \(w.metadata.name) of team \(w.metadata.team) serves model \(stable.model.name); a rollout moves it to another version of that model, "
                               + "not to \(d.model.name): cancel it first, or give the new model its own service")
        }
        guard stable.model.version != d.model.version else { return nil }
        guard let written = d.rollout else {
            throw RuntimeError(.conflict, "InferenceService \(w.metadata.name) of team \(w.metadata.team) serves \(stable.model) now; to move it to \(d.model) add spec.rollout to the document "
                               + "(strategy: canary or blueGreen, steps, rules) and submit it again, or run `tarmac rollout start \(w.metadata.name) --to \(d.model.version)`")
        }
        let spec: RolloutSpec
        switch InferenceKind.rolloutSpec(written) {
        case .success(let s): spec = s
        case .failure(let problems): throw RuntimeError(.invalid, problems.items.map(\.message).joined(separator: "; "))
        }
        // The new version runs this document, with the working directory uploaded with it (else the serving one's).
        let a = try await begin(stable, service: w.metadata.name, to: d.model.version, spec: spec, document: text, requestID: requestID,
                                workdir: workdir ?? stable.entry.workdir, by: p)
        guard let e = await controlPlane.current(a.next.workload) else { throw RuntimeError(.internalError, "the new version's workload is gone") }
        return (a, e)
    }

    func begin(_ stable: (entry: WorkloadEntry, model: ModelReference), service: String, to version: String, spec: RolloutSpec, document: String?,
               requestID: String?, workdir: String?, by p: Principal) async throws -> Active {
        let key = "\(stable.entry.team)/\(service)"
        guard p.canChange(team: stable.entry.team) else {
            throw RuntimeError(.forbidden, "\(p.name) cannot roll out services of team \(stable.entry.team)")
        }
        if let a = active[key], !a.isOver { throw RuntimeError(.conflict, "\(key) is rolling out to \(a.next.model) already: promote or abort it first") }
        guard version != stable.model.version else { throw RuntimeError(.conflict, "\(key) serves \(stable.model) already") }
        if let bad = Self.specProblem(spec) { throw RuntimeError(.invalid, bad) }
        if metrics == nil, !spec.rules.isEmpty {
            throw RuntimeError(.invalid, "nothing measures this service's versions, so analysis rules cannot be checked: name a Prometheus in the contract (metrics.prometheus), serve it through Tarmac's "
                               + "inference gateway (tarmac up --inference-port PORT), or roll out without rules (weights and pauses, promoted by hand)")
        }
        // The environment's promotion contract gates a rollout as it gates a promotion (signature, owner, review,
        // analysis, who may); a rollout written in the document is reviewed as that document.
        let reviewed: ModelRegistry.Reviewed = document.map { .document(digest: DocumentReview.digest(of: $0), author: p.name) } ?? .manifest
        let gates = try await ModelRegistry(store: controlPlane.store, controlPlane: controlPlane, artifacts: nil)
            .rolloutGates(model: stable.model.name, version: version, team: stable.entry.team, env: stable.entry.env, rules: spec.rules, reviewed: reviewed, by: p)
        let nextModel = ModelReference(name: stable.model.name, version: version)
        let name = Self.workloadName(service, version: version)
        let source = try Self.copy(document ?? stable.entry.source, name: name, model: nextModel)
        let submitted = try await controlPlane.submit(text: source, requestID: requestID ?? "rollout:\(key):\(version):\(Int(now.timeIntervalSince1970))", by: p,
                                                      runsImages: runsImages, workdir: workdir, servingGates: false)
        var a = Active(team: stable.entry.team, service: service, env: stable.entry.env, spec: spec, rollout: nil,
                       previous: Side(model: stable.model, workload: stable.entry.id, name: stable.entry.name),
                       next: Side(model: nextModel, workload: submitted.workload.id, name: name),
                       weights: [stable.model.version: 100, version: 0], startedBy: p.name, startedAt: now)
        a.retiring = active[key]?.retiring ?? []
        await put(a)
        let gateText = gates.isEmpty ? "" : "; gates: " + gates.map { "\($0.gate.rawValue): \($0.detail ?? "passed")" }.joined(separator: "; ")
        let how = document == nil ? "" : " from a submitted document"
        try await record(a, "rollout-start", "\(stable.model) -> \(nextModel) by \(p.name)\(how) (\(Self.describe(spec))); \(name) starting\(gateText)",
                         by: p.actor)
        return a
    }

    public func promote(service: String, team: String?, by p: Principal) async throws -> Active {
        try await event(service, team: team, by: p) { _ in .promote(by: p.name) }
    }

    public func abort(service: String, team: String?, by p: Principal) async throws -> Active {
        try await event(service, team: team, by: p) { _ in .abort(by: p.name) }
    }

    /// After a promotion: every request back on the previous version in one step (warm: a routing change; cold: it
    /// starts again first).
    public func rollback(service: String, team: String?, by p: Principal) async throws -> Active {
        await restore()
        let a = try find(service, team: team, by: p)
        guard case .promoted? = a.rollout?.phase else {
            throw RuntimeError(.conflict, "\(a.key) has no promoted rollout to roll back\(a.rollout.map { " (it is \(Self.phaseName($0)))" } ?? "")")
        }
        let previousLive = await isLive(a.previous.workload)
        if a.rollout?.previousRetired == true || !previousLive {
            return try await coldRollback(a, by: p)
        }
        return try await event(service, team: team, by: p) { _ in .rollback(by: p.name) }
    }

    public func status(service: String, team: String?, by p: Principal) async throws -> Active {
        await restore()
        return try find(service, team: team, by: p)
    }

    public func list(by p: Principal) async -> [Active] {
        await restore()
        return active.values.filter { p.canRead(team: $0.team) }.sorted { $0.key < $1.key }
    }

    /// How services with a rollout are split now: each version's workload and share (without endpoints; `TrafficPlan`
    /// adds them).
    public func routes() async -> [ServiceTraffic] {
        await restore()
        return active.values.sorted { $0.key < $1.key }.map { a in
            ServiceTraffic(team: a.team, env: a.env, service: a.service, backends: [a.previous, a.next].map { s in
                ServiceTraffic.Backend(workload: s.workload, name: s.name, model: s.model.name, version: s.model.version, weight: a.weights[s.label] ?? 0)
            })
        }
    }

    // MARK: time

    /// Advances every rollout: starts the machine once the new version serves, ends pauses, takes measurements that
    /// are due, closes rollback windows.
    public func tick() async {
        await restore()
        for key in active.keys.sorted() {
            guard var a = active[key], !a.retiring.isEmpty else { continue }
            for r in a.retiring where r.at <= now { _ = try? await controlPlane.cancel(r.workload, by: Self.system) }
            a.retiring.removeAll { $0.at <= now }
            await put(a)
        }
        for key in active.keys.sorted() {
            guard var a = active[key], a.failure == nil else { continue }
            do {
                if a.rollout == nil {
                    try await waitForNext(&a)
                } else if let due = a.measureDue, now >= due {
                    a.measureDue = nil
                    guard let metrics else { continue }
                    let m = await metrics.measure(service: a.key, version: a.next.label, lastSeconds: Double(a.measureSeconds))
                    try await apply(&a, .measured(m), actor: .system(id: "rollouts"))
                } else {
                    try await apply(&a, .tick, actor: .system(id: "rollouts"))
                }
            } catch {
                controlPlane.logger.error("rollout step failed", metadata: ["service": "\(key)", "error": "\(error)"])
            }
            await put(a)
        }
    }

    func waitForNext(_ a: inout Active) async throws {
        guard let e = await controlPlane.current(a.next.workload) else { return }
        if e.state.isTerminal {
            a.failure = "\(a.next.model) did not come up: \(e.state.rawValue)\(e.message.map { " (\($0))" } ?? "")"
            a.weights = [a.previous.label: 100, a.next.label: 0]
            try await record(a, "rollout-abort", a.failure!, by: .system(id: "rollouts"))
            return
        }
        guard e.state == .running, await serving(a.next.workload) else { return }
        if a.cold { a.coldStartSeconds = now.timeIntervalSince(a.startedAt) }
        let machine = RolloutMachine(spec: a.spec)
        let (r, effects) = machine.start(previous: a.previous.label, next: a.next.label, by: a.startedBy, now: now)
        a.rollout = r
        try await run(effects, &a, actor: .system(id: "rollouts"))
    }

    // MARK: effects

    func event(_ service: String, team: String?, by p: Principal, _ make: (Active) -> RolloutEvent) async throws -> Active {
        await restore()
        var a = try find(service, team: team, by: p)
        guard p.canChange(team: a.team) else { throw RuntimeError(.forbidden, "\(p.name) cannot change rollouts of team \(a.team)") }
        guard a.rollout != nil else { throw RuntimeError(.conflict, "\(a.key)'s new version \(a.next.model) is not serving yet") }
        let before = a.rollout
        try await apply(&a, make(a), actor: p.actor)
        if a.rollout == before { throw RuntimeError(.conflict, "\(a.key) is \(Self.phaseName(a.rollout!)): nothing to do") }
        await put(a)
        return a
    }

    func apply(_ a: inout Active, _ e: RolloutEvent, actor: AuditActor) async throws {
        guard let r = a.rollout else { return }
        let (next, effects) = RolloutMachine(spec: a.spec).step(r, e, now: now)
        a.rollout = next
        try await run(effects, &a, actor: actor)
    }

    func run(_ effects: [RolloutEffect], _ a: inout Active, actor: AuditActor) async throws {
        for effect in effects {
            switch effect {
            case .route(let w): a.weights = w
            case .measure(let s):
                a.measureSeconds = s
                a.measureDue = now.addingTimeInterval(Double(s))
            case .record(let action, let detail): try await record(a, action, detail, by: actor)
            case .keepWarm: break
            case .retire(let version):
                // Not at once: the gateway stops routing to it within its refresh, and requests in flight finish.
                let workload = version == a.next.label ? a.next.workload : a.previous.workload
                a.retiring.append(Retiring(workload: workload, at: now.addingTimeInterval(Self.drain)))
            }
        }
    }

    /// The previous version was let go: it is submitted again, and once it serves every request goes to it.
    func coldRollback(_ a: Active, by p: Principal) async throws -> Active {
        guard let stable = await controlPlane.current(a.previous.workload) else { throw RuntimeError(.notFound, "\(a.previous.workload) is gone") }
        let name = Self.workloadName(a.service, version: a.previous.label) + "-r\(Int(now.timeIntervalSince1970) % 100_000)"
        let document = try Self.copy(stable.source, name: name, model: a.previous.model)
        let submitted = try await controlPlane.submit(text: document, requestID: nil, by: p, runsImages: runsImages, workdir: stable.workdir)
        // A new rollout from the version serving now back to the previous one, all at once when it serves.
        var b = Active(team: a.team, service: a.service, env: a.env, spec: RolloutSpec(strategy: .canary(steps: [.setWeight(100)]), rollbackWindow: a.spec.rollbackWindow),
                       rollout: nil, previous: a.next, next: Side(model: a.previous.model, workload: submitted.workload.id, name: name),
                       weights: [a.next.label: 100, a.previous.label: 0], startedBy: p.name, startedAt: now)
        b.cold = true
        b.retiring = a.retiring
        await put(b)
        try await record(b, "rollout-rollback", "by \(p.name) to \(a.previous.model) (cold: it starts again as \(name))", by: p.actor)
        return b
    }

    func record(_ a: Active, _ action: String, _ detail: String, by actor: AuditActor) async throws {
        try await controlPlane.store.appendAudit([AuditDraft(time: now, actor: actor, action: action, object: "service/\(a.key)", detail: detail,
                                                             workload: a.next.workload)])
    }

    /// A service's failed requests over the last `seconds`, by cause, as the gateway saw them (empty without one).
    public nonisolated func servingFaults(service: String, lastSeconds: Double) -> [ServingFault: Int] {
        observed?.faults(service: service, lastSeconds: lastSeconds) ?? [:]
    }

    /// The cause of a service's latest failed request at the gateway.
    public nonisolated func latestServingFault(service: String) -> ServingFault? { observed?.latestFault(service: service) }

    // MARK: keeping

    /// Keeps a rollout's state, in memory and in the store (when it changed), so a restart goes on where it was.
    func put(_ a: Active) async {
        guard active[a.key] != a else { return }
        active[a.key] = a
        do {
            try await controlPlane.store.saveRollout(RolloutRecord(team: a.team, service: a.service, body: try StoredJSON.encoder.encode(a)))
        } catch {
            controlPlane.logger.error("rollout not saved", metadata: ["service": "\(a.key)", "error": "\(error)"])
        }
    }

    /// Reads the rollouts kept in the store, once, before anything else is asked of the runner.
    func restore() async {
        guard !restored else { return }
        restored = true
        do {
            for r in try await controlPlane.store.rollouts() {
                do {
                    let a = try StoredJSON.decoder.decode(Active.self, from: r.body)
                    active[a.key] = a
                } catch {
                    controlPlane.logger.error("a kept rollout cannot be read: it is left out", metadata: ["service": "\(r.team)/\(r.service)", "error": "\(error)"])
                }
            }
        } catch {
            controlPlane.logger.error("the kept rollouts cannot be read", metadata: ["error": "\(error)"])
        }
    }

    // MARK: lookups

    func currentWorkload(_ service: String, team: String?, by p: Principal) async throws -> (entry: WorkloadEntry, model: ModelReference) {
        let key = team.map { "\($0)/\(service)" } ?? p.team.map { "\($0)/\(service)" }
        // After a rollout the service is served by the workload it promoted.
        if let key, let a = active[key], a.isOver, case .promoted? = a.rollout?.phase, let e = await controlPlane.current(a.next.workload), e.state == .running {
            return (e, a.next.model)
        }
        if let key, let a = active[key], a.isOver, let e = await controlPlane.current(a.previous.workload), e.state == .running {
            return (e, a.previous.model)
        }
        let served = await controlPlane.servedServices().filter { $0.name == service && (team == nil || $0.team == team) && p.canRead(team: $0.team) }
        guard let s = served.first, let e = await controlPlane.current(s.workload) else {
            throw RuntimeError(.notFound, "no running InferenceService named '\(service)'\(team.map { " in team \($0)" } ?? "")")
        }
        return (e, s.model)
    }

    func find(_ service: String, team: String?, by p: Principal) throws -> Active {
        let matches = active.values.filter { $0.service == service && (team == nil || $0.team == team) && p.canRead(team: $0.team) }
        guard let a = matches.first else { throw RuntimeError(.notFound, "no rollout of '\(service)'") }
        return a
    }

    func isLive(_ workload: String) async -> Bool {
        guard let e = await controlPlane.current(workload) else { return false }
        return e.state == .running && !e.cancelRequested
    }

    // MARK: documents

    /// `ranker` at `1.1.0` runs as `ranker-1-1-0` (a name of letters, digits and '-', at most 63).
    static func workloadName(_ service: String, version: String) -> String {
        let v = version.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        return String("\(service)-\(v)".prefix(63)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }

    /// The serving document with another name and model (JSON: the API takes either).
    static func copy(_ source: String, name: String, model: ModelReference) throws -> String {
        guard var doc = try Yams.load(yaml: source) as? [String: Any], var metadata = doc["metadata"] as? [String: Any],
              var spec = doc["spec"] as? [String: Any] else {
            throw RuntimeError(.internalError, "the serving document cannot be read again")
        }
        metadata["name"] = name
        spec["model"] = model.description
        doc["metadata"] = metadata
        doc["spec"] = spec
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func specProblem(_ s: RolloutSpec) -> String? {
        if case .canary(let steps) = s.strategy {
            if steps.isEmpty { return "a canary rollout needs steps (e.g. 10, analysis 60s, 50, analysis 60s)" }
            for case .setWeight(let w) in steps where !(0...100).contains(w) { return "a weight is a percentage, 0 to 100, not \(w)" }
            for case .analysis(let s) in steps where s <= 0 { return "an analysis window lasts at least a second" }
            if steps.contains(where: { if case .analysis = $0 { true } else { false } }) && s.rules.isEmpty {
                return "an analysis step needs rules (success rate, p99 latency or time to first token)"
            }
        }
        for r in s.rules where r.minRequests < 1 || r.threshold < 0 { return "rule \(r.description): thresholds are positive and minRequests at least 1" }
        if s.rollbackWindow < 0 { return "the rollback window cannot be negative" }
        return nil
    }

    public static func describe(_ s: RolloutSpec) -> String {
        switch s.strategy {
        case .blueGreen: return "blue-green"
        case .canary(let steps):
            return "canary " + steps.map { step -> String in
                switch step {
                case .setWeight(let w): "\(w)%"
                case .pause(let s?): "pause \(s)s"
                case .pause(nil): "pause until promoted"
                case .analysis(let s): "analysis \(s)s"
                }
            }.joined(separator: ", ")
        }
    }

    static func phaseName(_ r: Rollout) -> String {
        switch r.phase {
        case .paused(let step, let until): until == nil ? "paused at step \(step + 1) until promoted" : "at step \(step + 1)"
        case .analyzing(let step, _): "analysing at step \(step + 1)"
        case .promoted: "promoted"
        case .rolledBack(_, let reason): "rolled back (\(reason))"
        case .aborted(_, let by): "aborted by \(by)"
        }
    }
}

extension AuditActor {
    static func system(id: String) -> AuditActor { AuditActor(kind: .system, id: id) }
}
