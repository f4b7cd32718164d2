import Foundation
import TarmacAPI
import TarmacContract
import TarmacEngine
import TarmacModel
import TarmacPlanning

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
    /// (`created`), the others wait for it and return it as a replay.
    public func submit(text: String, requestID: String?, by principal: Principal, runsImages: Bool) async throws -> (workload: WorkloadEntry, created: Bool) {
        guard principal.role != .viewer else { throw RuntimeError(.forbidden, "viewers cannot submit workloads") }
        guard let raw = requestID else { return try await submitNew(text: text, requestID: nil, by: principal, runsImages: runsImages) }
        let r = WorkloadEntry.scopedRequestID(raw, scope: principal.requestScope)
        if let id = byRequest[r], let e = tracked[id]?.entry { return (e, false) }
        if let first = submitting[r] { return (try await first.value.workload, false) }
        let task = Task { try await self.submitNew(text: text, requestID: r, by: principal, runsImages: runsImages) }
        submitting[r] = task
        defer { submitting[r] = nil }
        return try await task.value
    }

    func submitNew(text: String, requestID: String?, by principal: Principal, runsImages: Bool) async throws -> (workload: WorkloadEntry, created: Bool) {
        let read = DocumentReader.read(text: text, file: "request")
        var diagnostics = read.diagnostics
        if !read.platformFiles.isEmpty || read.workloads.count != 1 {
            throw RuntimeError(.invalid, "the body must hold exactly one workload document (TrainingJob, BatchJob, InferenceService or Agent); found \(read.workloads.count) workload\(read.workloads.count == 1 ? "" : "s")\(read.platformFiles.isEmpty ? "" : " and a platform")",
                               diagnostics: diagnostics.map(Self.payload))
        }
        let w = read.workloads[0]
        diagnostics += WorkloadValidator.validate(w, against: contract)
        if !runsImages && w.command.isEmpty && w.isValid {
            diagnostics.append(Diagnostic(.error, at: w.origin.key("spec") ?? w.origin.location,
                                          "this control plane runs workloads as local processes, so spec.command is required (the image is not run)",
                                          rule: "local-command", help: "add spec.command, e.g. command: [python3, train.py]"))
        }
        diagnostics = diagnostics.normalized()
        if diagnostics.hasErrors || !w.isValid {
            let n = diagnostics.errors.count
            throw RuntimeError(.invalid, "the workload has \(n) error\(n == 1 ? "" : "s")", diagnostics: diagnostics.map(Self.payload))
        }
        guard principal.canChange(team: w.metadata.team) else {
            throw RuntimeError(.forbidden, "\(principal.name) (\(principal.role.rawValue)\(principal.team.map { " of team \($0)" } ?? "")) cannot submit workloads for team \(w.metadata.team)")
        }
        let key = "\(w.metadata.team)/\(w.metadata.env)/\(w.kind.rawValue)/\(w.metadata.name)"
        if reservedNames.contains(key) || tracked.values.contains(where: {
            let e = $0.entry
            return !e.state.isTerminal && e.team == w.metadata.team && e.env == w.metadata.env && e.kind == w.kind.rawValue && e.name == w.metadata.name
        }) {
            throw RuntimeError(.conflict, "\(w.kind.rawValue) \(w.metadata.name) of team \(w.metadata.team) in \(w.metadata.env) is already queued or running; cancel it first or choose another name")
        }
        guard let plan = WorkloadPlan(workload: w, contract: contract) else {
            throw RuntimeError(.invalid, "size \(w.size) does not resolve for team \(w.metadata.team) in \(w.metadata.env)")
        }
        reservedNames.insert(key)
        defer { reservedNames.remove(key) }
        let now = clock.now
        let entry = WorkloadEntry(id: Identifier.make("wl"), name: w.metadata.name, team: w.metadata.team, env: w.metadata.env,
                                  kind: w.kind.rawValue, owner: w.metadata.owner, submittedBy: principal.name, requestID: requestID,
                                  size: w.size, podCount: w.podCount, priority: plan.priority, source: text,
                                  maxAttempts: plan.maxAttempts, now: now)
        var audit: AuditDraft?
        var transition: Transition?
        for effect in machine.submitted(entry, by: principal.actor, now: now) {
            if case .persist(let a) = effect { audit = a }
            if case .emit(let t) = effect { transition = t }
        }
        let (stored, created, published) = try await store.insert(entry, plan: plan, audit: audit!, transition: transition)
        if created {
            var t = TrackedWorkload(entry: stored, plan: plan)
            // Not scheduled before the backend has it (Kubernetes: its objects exist, suspended).
            t.accepting = true
            tracked[stored.id] = t
            if let r = requestID { byRequest[r] = stored.id }
            if let published { transitions.publish([published]) }
            logger.info("submitted", metadata: ["workload": "\(stored.id)", "name": "\(stored.name)", "team": "\(stored.team)", "actor": "\(principal.actor)"])
            do {
                try await backend.accept(ActiveWorkload(id: stored.id, workload: w, attempt: 0, holdsCapacity: false))
            } catch let r as BackendRejection {
                tracked[stored.id]?.accepting = false
                try await apply(stored.id, .rejected(message: r.message))
                return (tracked[stored.id]?.entry ?? stored, created)
            } catch {
                logger.warning("the backend could not prepare the workload yet; it will at admission", metadata: ["workload": "\(stored.id)", "error": "\(error)"])
            }
            tracked[stored.id]?.accepting = false
            dirty = true
        } else if tracked[stored.id] == nil {
            tracked[stored.id] = TrackedWorkload(entry: stored, plan: nil)
        }
        if let r = requestID { byRequest[r] = stored.id }
        return (stored, created)
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
        let visible = tracked.values.lazy.map(\.entry).filter { $0.name == ref && (team == nil || $0.team == team) && principal.canRead(team: $0.team) }
        guard let e = visible.max(by: { $0.createdAt < $1.createdAt }) else {
            throw RuntimeError(.notFound, "no workload named or with id '\(ref)'\(principal.team.map { " in team \($0)" } ?? "")")
        }
        return e
    }

    public func list(_ f: WorkloadFilter, by principal: Principal) -> [WorkloadEntry] {
        tracked.values.map(\.entry).filter {
            principal.canRead(team: $0.team) && (f.team == nil || $0.team == f.team) && (f.kind == nil || $0.kind.lowercased() == f.kind!.lowercased())
                && (f.state == nil || $0.state == f.state)
        }.sorted { $0.createdAt == $1.createdAt ? $0.id < $1.id : $0.createdAt < $1.createdAt }
    }

    public func why(_ ref: String, by principal: Principal) throws -> WhyView {
        let e = try find(ref, by: principal)
        switch e.state {
        case .queued:
            if let n = e.notBefore, n > clock.now {
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: "backoff", message: e.message ?? "waiting to retry")
            }
            if let r = tracked[e.id]?.waiting {
                return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: r.kind, message: engine.explain(r, team: e.team))
            }
            return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: nil,
                             message: e.message ?? "queued; the next scheduling cycle will consider it")
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
            return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: nil, message: text,
                           lastCheckpoint: e.lastCheckpoint)
        default:
            return WhyView(workload: e.id, name: e.name, state: e.state.rawValue, reason: e.cause, message: e.message ?? e.state.rawValue)
        }
    }

    /// Queued workloads in the order the scheduler weighs them (priority, then submission), with why each waits.
    public func queue(by principal: Principal) -> [(WorkloadEntry, WhyView)] {
        let entries: [WorkloadEntry] = tracked.values.map(\.entry)
        let q = entries.filter { (e: WorkloadEntry) -> Bool in e.state == .queued && principal.canRead(team: e.team) }
            .sorted { (a: WorkloadEntry, b: WorkloadEntry) -> Bool in a.priority != b.priority ? a.priority > b.priority : a.createdAt < b.createdAt }
        return q.compactMap { e in (try? why(e.id, by: principal)).map { (e, $0) } }
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
        guard pod >= 0, pod < e.podCount else { throw RuntimeError(.notFound, "workload \(e.name) has pods 0..<\(e.podCount); no pod \(pod)") }
        let a = attempt ?? e.attempt
        guard a >= 1, a <= e.attempt else {
            throw RuntimeError(.notFound, e.attempt == 0 ? "workload \(e.name) has not started yet: no logs" : "workload \(e.name) has attempts 1...\(e.attempt)")
        }
        return (e, a)
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        try await backend.readLog(workload: workload, attempt: attempt, pod: pod, from: offset, max: max)
    }

    public func current(_ id: String) -> WorkloadEntry? { tracked[id]?.entry }

    /// Node inventory the engine places on.
    public func inventory() -> [NodeInventory] { nodes }
}
