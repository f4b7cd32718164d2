import TarmacCore
import TarmacKinds
import Foundation
import TarmacAPI
import TarmacContract
import TarmacEngine
import TarmacModel
import TarmacPlanning

/// A document checked and resolved, ready to be queued.
struct PreparedSubmit: Sendable {
    var text: String
    var workload: Workload
    var plan: WorkloadPlan
    var warnings: [DiagnosticPayload]
    var workdir: String?
    /// What this control plane cannot take of an otherwise valid document (no command for local processes, a working
    /// directory it cannot serve): refused together with whether it could ever start here.
    var refusals: [Diagnostic] = []
}

/// What a submit did: the workload (new, or the one its request id already made) and the document's warnings.
public struct SubmitResult: Sendable {
    public var workload: WorkloadEntry
    public var created: Bool
    /// Warnings of validation and of the feasibility check (empty for a replay).
    public var warnings: [DiagnosticPayload]
}

public struct WorkloadFilter: Sendable {
    public var team: String?
    public var kind: String?
    public var state: WorkloadState?
    public init(team: String? = nil, kind: String? = nil, state: WorkloadState? = nil) {
        self.team = team
        self.kind = kind
        self.state = state
    }
}

extension ControlPlane {
    // MARK: submit

    /// Validates a document exactly as `tarmac validate` does and queues it. A request id makes it idempotent.
    ///
    /// Request ids are scoped to the caller's team (admins have a scope of their own), so one team can neither see nor
    /// block another's ids. Concurrent submits with the same id all get the first one's workload: the first creates it
    /// (`created`), the others wait for it and return it as a replay. Parsing, validation and size resolution run off the
    /// actor; only the queueing itself (name check, store, backend) is serialized.
    /// `servingGates`: an InferenceService passes its environment's promotion contract first (false: the caller, a
    /// rollout, checked it).
    public nonisolated func submit(text: String, requestID: String?, by principal: Principal, runsImages: Bool, workdir: String? = nil,
                                   servingGates: Bool = true) async throws -> SubmitResult {
        try Access.require(principal, .submit)
        let scoped = requestID.map { WorkloadEntry.scopedRequestID($0, scope: principal.requestScope) }
        if let scoped, let replay = try await replayed(scoped) { return replay }
        var prepared = try prepare(text: text, by: principal, runsImages: runsImages, workdir: workdir)
        if servingGates { prepared.refusals += try await promotionRefusals(prepared, by: principal) }
        return try await enqueue(prepared, requestID: scoped, by: principal)
    }

    /// An InferenceService of an environment with a promotion contract passes its gates before it serves there: each
    /// failed gate is a refusal at the document (told together with everything else this control plane cannot take of
    /// it). Someone who may not promote there is refused outright.
    nonisolated func promotionRefusals(_ p: PreparedSubmit, by principal: Principal) async throws -> [Diagnostic] {
        let w = p.workload, env = w.metadata.env
        guard case .inference(let d) = w.details, platform.environments[env]?.promotion != nil else { return [] }
        do {
            _ = try await ModelRegistry(store: store, controlPlane: self, artifacts: nil)
                .servingGates(model: d.model, team: w.metadata.team, env: env, digest: DocumentReview.digest(of: p.text), by: principal)
            return []
        } catch let e as RuntimeError where e.code == .invalid {
            let failed = e.diagnostics.filter { $0.severity == "error" }
            guard !failed.isEmpty else { return [Diagnostic(.error, at: w.origin.at("spec.model") ?? w.origin.location, e.message, rule: "promotion")] }
            return failed.map { g in
                // The review is of the whole document; the other gates are about the model version it serves.
                let at = g.rule == "review" ? w.origin.location : (w.origin.at("spec.model") ?? w.origin.location)
                return Diagnostic(.error, at: at, "environment \(env)'s promotion contract refuses serving \(d.model): \(g.rule ?? "gate"): \(g.message)",
                                  rule: "promotion-\(g.rule ?? "gate")", help: g.help)
            }
        }
    }

    /// The workload a request id already made (or is making), if any.
    func replayed(_ r: String) async throws -> SubmitResult? {
        if let id = tracked.byRequest[r], let e = tracked[id]?.entry { return SubmitResult(workload: e, created: false, warnings: []) }
        if let first = submitting[r] { return SubmitResult(workload: try await first.value.workload, created: false, warnings: []) }
        return nil
    }

    func enqueue(_ p: PreparedSubmit, requestID r: String?, by principal: Principal) async throws -> SubmitResult {
        guard let r else { return try await insertNew(p, requestID: nil, by: principal) }
        if let replay = try await replayed(r) { return replay }
        let task = Task { try await self.insertNew(p, requestID: r, by: principal) }
        submitting[r] = task
        defer { submitting[r] = nil }
        return try await task.value
    }

    /// A document parsed, validated against the contract and resolved: pure, so it runs on the caller's task.
    nonisolated func prepare(text: String, by principal: Principal, runsImages: Bool, workdir: String?) throws -> PreparedSubmit {
        let contract = self.contract
        let read = DocumentReader.read(text: text, file: "request")
        var diagnostics = read.diagnostics
        if !read.platformFiles.isEmpty || read.workloads.count != 1 {
            let n = read.workloads.count
            let found = n == 0 ? "none" : "\(n) workload\(n == 1 ? "" : "s")"
            throw RuntimeError(.invalid, "the body must hold exactly one workload document (TrainingJob, BatchJob, InferenceService or Agent); found \(found)\(read.platformFiles.isEmpty ? "" : " and a platform")\(n > 1 ? ". Send each document on its own (`tarmac submit FILE` does: it submits every workload of a file)" : "")",
                               diagnostics: diagnostics.map(Self.payload))
        }
        let w = read.workloads[0]
        diagnostics += Kinds.validate(w, against: contract)
        // What this control plane needs of a valid document: reported with whether it could ever start here, at once.
        var context: [Diagnostic] = []
        if !runsImages && w.command.isEmpty && w.isValid {
            context.append(Diagnostic(.error, at: w.origin.key("spec") ?? w.origin.location,
                                          "this control plane runs workloads as local processes, so spec.command is required (the image is not run)",
                                          rule: "local-command", help: "add spec.command, e.g. command: [python3, train.py]"))
        }
        if let path = w.workdir, workdir == nil, w.isValid {
            context.append(Diagnostic(.error, at: w.origin.at("spec.workdir") ?? w.origin.location,
                                          "spec.workdir (\(path)) names a directory on the submitter's machine, and none was uploaded with this request",
                                          rule: "workdir", help: "submit with `tarmac submit` (it uploads the directory), or upload it (PUT /v1/workdirs/DIGEST) and send its digest in the Tarmac-Workdir header"))
        }
        if workdir != nil, backend.fetchesWorkdirOverAPI, config.advertiseURL == nil {
            context.append(Diagnostic(.error, at: w.origin.at("spec.workdir") ?? w.origin.location,
                                          "its pods would fetch the working directory from this control plane, which has no URL they can reach",
                                          rule: "workdir", help: "start tarmac up with --advertise-url URL (reachable from the cluster's pods), or build the code into spec.image"))
        }
        diagnostics = diagnostics.normalized()
        if diagnostics.hasErrors || !w.isValid {
            let n = diagnostics.errors.count
            throw RuntimeError(.invalid, "the workload has \(n) error\(n == 1 ? "" : "s")", diagnostics: diagnostics.map(Self.payload))
        }
        guard principal.canChange(team: w.metadata.team) else {
            throw RuntimeError(.forbidden, "\(principal.name) (\(principal.role.rawValue)\(principal.team.map { " of team \($0)" } ?? "")) cannot submit workloads for team \(w.metadata.team)")
        }
        guard let plan = Kinds.plan(w, contract: contract) else {
            throw RuntimeError(.invalid, "size \(w.size) does not resolve for team \(w.metadata.team) in \(w.metadata.env)")
        }
        return PreparedSubmit(text: text, workload: w, plan: plan, warnings: diagnostics.filter { $0.severity == .warning }.map(Self.payload), workdir: workdir,
                              refusals: context)
    }

    /// Queues a prepared document: the one name check, the feasibility check, the store, the backend.
    func insertNew(_ p: PreparedSubmit, requestID: String?, by principal: Principal) async throws -> SubmitResult {
        let w = p.workload, plan = p.plan, text = p.text, workdir = p.workdir
        var warnings = p.warnings
        let key = WorkloadTable.nameKey(team: w.metadata.team, env: w.metadata.env, kind: w.kind.rawValue, name: w.metadata.name)
        if reservedNames.contains(key) || tracked.activeNames[key] != nil {
            throw RuntimeError(.conflict, "\(w.kind.rawValue) \(w.metadata.name) of team \(w.metadata.team) in \(w.metadata.env) is already queued or running; cancel it first or choose another name")
        }
        // Nothing waits forever in silence: what can never start on these nodes is refused now, with the reason (or,
        // where the nodes can grow, accepted with it as a warning).
        var refusals = p.refusals
        if let never = neverStarts(plan, pods: w.podCount, team: w.metadata.team) {
            let at = w.origin.at("spec.size") ?? w.origin.key("spec") ?? w.origin.location
            if backend.inventoryCanGrow {
                warnings.append(Self.payload(Diagnostic(.warning, at: at, never + "; it waits until nodes that can host it join", rule: "never-starts")))
            } else {
                refusals.append(Diagnostic(.error, at: at, never, rule: "never-starts", help: "choose a size this machine can host (`tarmac sizes` lists them), or run it where the hardware is"))
            }
        }
        if !refusals.isEmpty {
            let sorted = refusals.normalized()
            let n = sorted.count
            throw RuntimeError(.invalid, n == 1 ? sorted[0].message : "the workload has \(n) errors", diagnostics: sorted.map(Self.payload))
        }
        if let b = budgetWarning(team: w.metadata.team) {
            warnings.append(Self.payload(Diagnostic(.warning, at: w.origin.location, b, rule: "budget",
                                                    help: "tarmac cost --team \(w.metadata.team) shows the spend and the forecast")))
        }
        reservedNames.insert(key)
        defer { reservedNames.remove(key) }
        let now = clock.now
        var entry = WorkloadEntry(id: Identifier.make("wl"), name: w.metadata.name, team: w.metadata.team, env: w.metadata.env,
                                  kind: w.kind.rawValue, owner: w.metadata.owner, submittedBy: principal.name, requestID: requestID,
                                  size: w.size, podCount: w.podCount, priority: plan.priority, source: text,
                                  maxAttempts: plan.maxAttempts, now: now)
        entry.workdir = workdir
        let (record, effects) = machine.submitted(entry, plan: plan, by: principal.actor, now: now)
        var audit: [AuditDraft] = [], transition: Transition?
        for effect in effects {
            if case .persist(let a) = effect { audit.append(a) }
            if case .emit(let t) = effect { transition = t }
        }
        let (stored, created, published) = try await store.insert(record.entry, plan: record.plan, audit: audit[0], transition: transition)
        guard created else {
            // Another control plane's (or an earlier run's) workload with this request id: known from now on.
            if tracked[stored.id] == nil {
                tracked.upsert(TrackedWorkload(entry: stored, plan: stored.state.isTerminal ? nil : Kinds.plan(source: stored.source, contract: contract)))
                if let t = tracked[stored.id] { noteEngineView(t) }
            }
            return SubmitResult(workload: stored, created: false, warnings: [])
        }
        tracked.upsert(record)
        loop.fresh.insert(stored.id)
        if let published { transitions.publish([published]) }
        logger.info("submitted", metadata: ["workload": "\(stored.id)", "name": "\(stored.name)", "team": "\(stored.team)", "actor": "\(principal.actor)"])
        // The backend's part, and what it answers, as for every other step.
        let follow = await perform(record, effects)
        for event in follow { try await apply(stored.id, event) }
        loop.dirty = true
        wake()
        let rejected = follow.contains { if case .rejected = $0 { true } else { false } }
        return SubmitResult(workload: rejected ? tracked[stored.id]?.entry ?? stored : stored, created: true, warnings: warnings)
    }

    /// Why a plan can never start on the nodes there are now (cached per size, team and gang: the answer changes only
    /// with the inventory or the contract).
    func neverStarts(_ plan: WorkloadPlan, pods: Int, team: String) -> String? {
        let key = "\(team)|\(plan.workload.metadata.env)|\(plan.size.workloadClass.rawValue)/\(plan.size.name)|\(pods)"
        if let known = feasibility[key] { return known }
        let answer = engine.neverStarts(plan, pods: pods, team: team, place: backend.placeName)
        feasibility[key] = .some(answer)
        return answer
    }


    /// Why one pod of a size could never start here for `team` (nil: it could): the check a submit makes, for
    /// `tarmac sizes`.
    public func whyNot(size: String, of workloadClass: WorkloadClass, team: String, env: String) -> String? {
        let kind: DocumentKind
        let details: Workload.Details
        switch workloadClass {
        case .training: (kind, details) = (.trainingJob, .training(TrainingDetails(workers: 1, checkpoint: nil)))
        case .batch: (kind, details) = (.batchJob, .batch(BatchDetails(tasks: 1, parallelism: 1, maxRetries: 0)))
        case .inference: (kind, details) = (.inferenceService, .inference(InferenceDetails(model: ModelReference(name: "m", version: "1"), replicas: ReplicaRange(min: 1, max: 1), port: 8080, rollbackTarget: nil)))
        case .agent: (kind, details) = (.agent, .agent(AgentDetails(tools: [:], onBehalfOf: nil)))
        }
        let w = Workload(kind: kind, metadata: WorkloadMetadata(name: "sizes", team: team, env: env), size: size, image: "", details: details)
        guard let plan = Kinds.plan(w, contract: contract) else { return "size \(size) does not resolve for team \(team) in \(env)" }
        return neverStarts(plan, pods: 1, team: team)
    }

    static func payload(_ d: Diagnostic) -> DiagnosticPayload {
        DiagnosticPayload(severity: d.severity.rawValue, file: d.location?.file ?? "request", line: d.location?.line ?? 0,
                          column: d.location?.column ?? 0, message: d.message, rule: d.rule, help: d.help, text: d.description)
    }

    // MARK: read

    /// A workload by id, or by name (the newest the caller may see).
    public func find(_ ref: String, team: String? = nil, by principal: Principal) throws -> WorkloadEntry {
        // Another team's workload is answered exactly like one that does not exist: its name or id is not probeable.
        if let e = tracked[ref]?.entry, principal.canRead(team: e.team) { return e }
        let visible = tracked.records.values.lazy.map(\.entry).filter { $0.name == ref && (team == nil || $0.team == team) && principal.canRead(team: $0.team) }
        guard let e = visible.max(by: { $0.createdAt < $1.createdAt }) else {
            throw RuntimeError(.notFound, "no workload named or with id '\(ref)'\(principal.team.map { " in team \($0)" } ?? "")")
        }
        return e
    }

    public func list(_ f: WorkloadFilter, by principal: Principal) -> [WorkloadEntry] {
        tracked.records.values.map(\.entry).filter {
            principal.canRead(team: $0.team) && (f.team == nil || $0.team == f.team) && (f.kind == nil || $0.kind.lowercased() == f.kind!.lowercased())
                && (f.state == nil || $0.state == f.state)
        }.sorted { $0.createdAt == $1.createdAt ? $0.id < $1.id : $0.createdAt < $1.createdAt }
    }

    /// One page of what `list` returns, newest first, and how many there are in all: only the keys of every match
    /// are sorted, and only the page's entries are copied (a page of 50 out of 10,000 stored).
    public func listPage(_ f: WorkloadFilter, by principal: Principal, offset: Int, limit: Int) -> (items: [WorkloadEntry], total: Int) {
        var keys: [(at: Date, id: String)] = []
        keys.reserveCapacity(tracked.records.count)
        let kind = f.kind?.lowercased()
        for (id, t) in tracked.records {
            let e = t.entry
            guard (f.team == nil || e.team == f.team) && (f.state == nil || e.state == f.state) && (kind == nil || e.kind.lowercased() == kind)
                  && principal.canRead(team: e.team) else { continue }
            keys.append((e.createdAt, id))
        }
        keys.sort { $0.at == $1.at ? $0.id > $1.id : $0.at > $1.at }
        let page = keys.dropFirst(max(0, offset)).prefix(max(0, limit))
        return (page.compactMap { tracked[$0.id]?.entry }, keys.count)
    }

    /// Why a workload is where it is; a queued one also gets its estimated start (`estimate`: the queue's listing
    /// leaves that out, one run of the estimator per queued workload would cost too much there).
    public func why(_ ref: String, by principal: Principal, estimate: Bool = true) throws -> WhyView {
        let e = try find(ref, by: principal)
        guard e.state == .queued else { return whyNotQueued(e) }
        var view = whyQueued(e)
        if estimate, view.reason != "scaledToZero", view.reason != "infeasible" { view.estimatedStart = estimatedStart(of: e.id) }
        return view
    }

    func whyQueued(_ e: WorkloadEntry) -> WhyView {
            if e.scaledToZeroAt != nil {
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: "scaledToZero", message: e.message ?? "scaled to zero by idle reclaim")
            }
            if let plan = tracked[e.id]?.plan, let never = neverStarts(plan, pods: e.podCount, team: e.team) {
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: "infeasible", message: never)
            }
            if let n = e.notBefore, n > clock.now {
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: "backoff", message: e.message ?? "waiting to retry",
                               facts: failureFacts(e))
            }
            if let r = views.waitReasons[e.id] {
                var facts: WhyFacts?
                if case .quota(let q) = r, q.resource.hasPrefix("budget:") {
                    facts = WhyFacts(resource: String(q.resource.dropFirst(7)), needed: Double(q.needed) / 1000, available: Double(q.available) / 1000)
                } else if case .quota(let q) = r, q.resource != "team" {
                    let need = engine.quantity(q.needed, of: q.resource), have = engine.quantity(q.available, of: q.resource)
                    facts = WhyFacts(resource: need.resource, needed: need.amount, available: have.amount)
                }
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: r.kind, message: engine.explain(r, team: e.team), facts: facts)
            }
            return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: nil,
                             message: e.message ?? "the next scheduling cycle will consider it")
    }

    func whyNotQueued(_ e: WorkloadEntry) -> WhyView {
        switch e.state {
        case .admitted, .running:
            let nodes = Set(e.placements.map(\.node)).sorted().joined(separator: ", ")
            var text = "\(e.state.rawValue) (attempt \(e.attempt)) on \(nodes)"
            if let c = e.lastCheckpoint {
                let age = Int(clock.now.timeIntervalSince(c.at))
                let what = [c.step.map { "step \($0)" }, c.location].compactMap { $0 }.joined(separator: " at ")
                text += "; last checkpoint \(age)s ago\(c.attempt == e.attempt ? "" : " (attempt \(c.attempt))")\(what.isEmpty ? "" : ": \(what)")"
            } else if e.state == .running, e.kind == "TrainingJob" {
                text += "; no checkpoint reported: a preemption would restart it from zero"
            }
            if e.cancelRequested { text += "; cancelling" }
            let gpu = gpuReading(e.id)
            if let g = gpu { text += "; its GPUs: \(g.summary)" }
            if let b = budgetWarning(team: e.team) { text += "; budget: \(b)" }
            if let m = e.message, m.hasPrefix("idle: ") { text += "; \(m)" }
            var view = WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: nil, message: text,
                               lastCheckpoint: e.lastCheckpoint.map(CheckpointView.init))
            view.gpu = gpu
            return view
        default:
            return ended(e)
        }
    }

    /// The numbers of a workload's last failure, as fields.
    func failureFacts(_ e: WorkloadEntry) -> WhyFacts? {
        e.failure.map { f in
            WhyFacts(exitCode: f.exitCode, signal: f.signal, memoryLimitBytes: f.memoryLimitBytes, peakMemoryBytes: f.peakMemoryBytes,
                     maxDurationSeconds: f.maxDurationSeconds, ranSeconds: f.ranSeconds)
        }
    }

    /// How an ended workload ended: its triaged cause, the numbers behind it, and for running out of memory the next
    /// larger size that would hold it.
    func ended(_ e: WorkloadEntry) -> WhyView {
        var message = e.message ?? e.state.rawValue
        var facts = failureFacts(e)
        if e.cause == "OutOfMemory", let w = Kinds.plan(source: e.source, contract: contract) {
            let platform = contract.resolve(env: e.env, team: e.team).platform
            let used = max(e.failure?.peakMemoryBytes ?? 0, e.failure?.memoryLimitBytes ?? w.size.memory.bytes)
            if let bigger = SizeAdvice.larger(than: w.size, memoryAbove: used, in: platform) {
                message += " The next larger \(bigger.workloadClass.rawValue) size is \(bigger.name) (\(bigger.memory) memory, \(bigger.cpu) CPU\(bigger.cpu.millis == 1000 ? "" : "s")): spec.size: \(bigger.name)."
                facts = facts ?? WhyFacts()
                facts?.suggestedSize = bigger.name
            } else {
                message += " No \(w.size.workloadClass.rawValue) size has more memory than \(w.size.name) for team \(e.team) in \(e.env): lower the memory use, or ask the platform team for a larger size."
            }
        }
        if let c = e.lastCheckpoint {
            let what = [c.step.map { "step \($0)" }, c.location].compactMap { $0 }.joined(separator: " at ")
            message += "; last checkpoint\(what.isEmpty ? "" : ": \(what)") (attempt \(c.attempt))"
        }
        return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: e.cause, message: message, lastCheckpoint: e.lastCheckpoint.map(CheckpointView.init),
                       facts: facts)
    }

    /// Queued workloads in the order the scheduler weighs them (priority, then submission), with why each waits.
    public func queue(by principal: Principal) -> [(WorkloadEntry, WhyView)] {
        let entries: [WorkloadEntry] = tracked.records.values.map(\.entry)
        let q = entries.filter { (e: WorkloadEntry) -> Bool in e.state == .queued && principal.canRead(team: e.team) }
            .sorted { (a: WorkloadEntry, b: WorkloadEntry) -> Bool in a.priority != b.priority ? a.priority > b.priority : a.createdAt < b.createdAt }
        return q.compactMap { e in (try? why(e.id, by: principal, estimate: false)).map { (e, $0) } }
    }

    /// A queued workload's place in the scheduler's order among what the caller may see (1: next), or nil.
    public func queuePosition(_ id: String, by principal: Principal) -> Int? {
        guard let e = tracked[id]?.entry, e.state == .queued else { return nil }
        var ahead = 0
        for id in tracked.queued {
            guard let o = tracked[id]?.entry, o.id != e.id, principal.canRead(team: o.team) else { continue }
            if o.priority > e.priority || (o.priority == e.priority && o.createdAt < e.createdAt) { ahead += 1 }
        }
        return ahead + 1
    }

    // MARK: change

    public func cancel(_ ref: String, by principal: Principal) async throws -> WorkloadEntry {
        let e = try find(ref, by: principal)
        guard principal.canChange(team: e.team) else {
            throw RuntimeError(.forbidden, "\(principal.name) (\(principal.role.rawValue)) cannot cancel workloads of team \(e.team)")
        }
        if e.state.isTerminal || e.cancelRequested { return e }
        try await apply(e.id, .cancelRequested(by: principal.actor, name: principal.name))
        return tracked[e.id]?.entry ?? e
    }

    // MARK: logs

    public func logTarget(_ ref: String, pod: Int, attempt: Int?, by principal: Principal) throws -> (workload: WorkloadEntry, attempt: Int) {
        let e = try find(ref, by: principal)
        guard pod >= 0, pod < e.podCount else {
            let pods = e.podCount == 1 ? "one pod (0)" : "\(e.podCount) pods (0 to \(e.podCount - 1))"
            throw RuntimeError(.notFound, "workload \(e.name) has \(pods); no pod \(pod)")
        }
        let a = attempt ?? e.attempt
        guard a >= 1, a <= e.attempt else {
            let never = e.state.isTerminal ? "workload \(e.name) was \(e.state.rawValue) before it ran: it has no logs"
                                           : "workload \(e.name) has not started yet: no logs (`tarmac logs -f` waits for it)"
            throw RuntimeError(.notFound, e.attempt == 0 ? never
                                                          : e.attempt == 1 ? "workload \(e.name) has one attempt (1)" : "workload \(e.name) has attempts 1 to \(e.attempt)")
        }
        return (e, a)
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        try await backend.readLog(workload: workload, attempt: attempt, pod: pod, from: offset, max: max)
    }

    /// Returns when the pod's log may have grown past `offset` (or after `timeout`): what a log follower waits on.
    /// A pod's log of one attempt, chunk by chunk to `write`; with `follow`, it waits for new output until the attempt
    /// ends (the API's `logs?follow=true`, the portal's streaming log).
    public nonisolated func streamLog(workload id: String, attempt a: Int, pod: Int, follow: Bool, _ write: (Data) async throws -> Void) async throws {
        var offset: Int64 = 0
        while true {
            let chunk = try await readLog(workload: id, attempt: a, pod: pod, from: offset, max: 64 << 10)
            if !chunk.data.isEmpty {
                try await write(chunk.data)
                offset = chunk.nextOffset
                continue
            }
            guard follow, let cur = await current(id), cur.attempt == a,
                  !cur.state.isTerminal || cur.finishedAt.map({ clock.now.timeIntervalSince($0) < 1 }) == true else { return }
            // Wakes at new output (the backend says when), or after a second to see whether the workload ended.
            await waitForLog(workload: id, attempt: a, pod: pod, beyond: offset, timeout: .seconds(1))
        }
    }

    public nonisolated func waitForLog(workload: String, attempt: Int, pod: Int, beyond offset: Int64, timeout: Duration) async {
        await backend.waitForLog(workload: workload, attempt: attempt, pod: pod, beyond: offset, timeout: timeout)
    }

    public func current(_ id: String) -> WorkloadEntry? { tracked[id]?.entry }

    /// Where a running service's replicas answer (empty for other workloads, or where the backend does not say).
    public func endpoints(_ e: WorkloadEntry) async -> [String] {
        guard e.state.holdsCapacity, e.kind == "InferenceService" || e.kind == "Agent" else { return [] }
        return await backend.endpoints(workload: e.id, attempt: e.attempt, pods: e.podCount)
    }

    /// Node inventory the engine places on.
    public func inventory() -> [NodeInventory] { nodes }
}
