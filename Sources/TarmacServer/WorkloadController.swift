import TarmacCore
import Foundation
import Hummingbird
import TarmacAPI
import HTTPTypes
import NIOCore
import TarmacDelivery
import TarmacRuntime
import TarmacWorkdir

/// /v1/workloads: submit, list, get, cancel, why, logs; and /v1/queue.
struct WorkloadController {
    let controlPlane: ControlPlane
    let runsImages: Bool
    let workdirs: WorkdirStore?
    /// The rollout runner, whose metrics source (the inference gateway) says how services fail; nil without a gateway.
    var rollouts: RolloutRunner? = nil
    /// Where the registry keeps model files (nil: it keeps none).
    var modelFiles: ModelArtifacts? = nil

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.post("workloads", use: submit)
        group.post("workloads/check", use: check)
        group.get("workloads", use: list)
        group.get("workloads/:ref", use: get)
        group.post("workloads/:ref/cancel", use: cancel)
        group.get("workloads/:ref/why", use: why)
        group.post("workloads/:ref/checkpoint", use: checkpoint)
        group.get("workloads/:ref/workdir", use: workdir)
        group.get("workloads/:ref/model/**", use: modelFile)
        group.get("workloads/:ref/logs", use: logs)
        group.get("queue", use: queue)
    }

    @Sendable func submit(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let body = try await request.body.collect(upTo: ServerLimits.maxBody)
        let text = String(buffer: body)
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError(.badRequest, code: "badRequest", "the body is empty: send one workload document as YAML or JSON")
        }
        let requestID = request.headers[.idempotencyKey] ?? request.uri.queryParameters.get("requestId")
        if let r = requestID, r.isEmpty || r.count > 200 {
            throw APIError(.badRequest, code: "badRequest", "the request id must have 1 to 200 characters")
        }
        // The working directory it names was uploaded first (PUT /v1/workdirs/DIGEST); here only its digest comes.
        let workdir = request.headers[.tarmacWorkdir]
        if let workdir {
            guard let workdirs else { throw APIError(.unprocessableContent, code: "invalid", "this server does not take working directories") }
            guard WorkdirStore.hex(of: workdir) != nil else {
                throw APIError(.badRequest, code: "badRequest", "Tarmac-Workdir must be a content digest: sha256: and 64 lowercase hex digits")
            }
            guard workdirs.has(workdir) else {
                throw APIError(.unprocessableContent, code: "invalid", "working directory \(workdir) was not uploaded; PUT it to /v1/workdirs/\(workdir) first")
            }
        }
        // A document replacing a running service's with another model version rolls it out (spec.rollout).
        if let rollouts, let started = try await rollouts.startFromDocument(text: text, requestID: requestID, workdir: workdir, by: principal) {
            var view = WorkloadView(started.workload)
            let message = "rolling out \(started.rollout.previous.model) -> \(started.rollout.next.model) (\(RolloutRunner.describe(started.rollout.spec))): "
                + "this is its new version; `tarmac rollout status \(started.rollout.service)` follows it"
            view.warnings = [DiagnosticPayload(severity: "info", file: "request", line: 0, column: 0, message: message, rule: "rollout", help: nil, text: "note: " + message)]
            return try JSON.response(view, status: .created, headers: [.location: "/v1/workloads/\(started.workload.id)",
                                                                      .contentLocation: "/v1/rollouts/\(started.rollout.service)?team=\(started.rollout.team)"])
        }
        let result = try await controlPlane.submit(text: text, requestID: requestID, by: principal, runsImages: runsImages, workdir: workdir)
        var view = WorkloadView(result.workload)
        if !result.warnings.isEmpty { view.warnings = result.warnings }
        return try JSON.response(view, status: result.created ? .created : .ok, headers: [.location: "/v1/workloads/\(result.workload.id)"])
    }

    /// What a submit of the body would say, without queueing anything: every diagnostic, and whether and when it
    /// would start (`fitsNow`, `waits` for what, `neverFits`, with the estimated start).
    @Sendable func check(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let text = String(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError(.badRequest, code: "badRequest", "the body is empty: send one workload document as YAML or JSON")
        }
        return try JSON.response(try await controlPlane.check(text: text, by: principal, runsImages: runsImages, workdir: request.headers[.tarmacWorkdir]))
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let q = request.uri.queryParameters
        var state: WorkloadState?
        if let s = q.get("state") {
            guard let v = WorkloadState(rawValue: s) else {
                throw APIError(.badRequest, code: "badRequest", "unknown state '\(s)'; use one of \(WorkloadState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = v
        }
        let items = await controlPlane.list(WorkloadFilter(team: q.get("team"), kind: q.get("kind"), state: state), by: principal)
        return try JSON.response(WorkloadList(items: items.map(WorkloadView.init)))
    }

    @Sendable func get(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let ref = try context.parameters.require("ref")
        let e = try await controlPlane.find(ref, team: request.uri.queryParameters.get("team"), by: principal)
        var view = WorkloadView(e)
        let endpoints = await controlPlane.endpoints(e)
        if !endpoints.isEmpty { view.endpoints = endpoints }
        view.gpu = await controlPlane.gpuReading(e.id)
        view.budget = await controlPlane.budgetWarning(team: e.team)
        view.cost = await controlPlane.costSoFar(e)
        return try JSON.response(view)
    }

    @Sendable func cancel(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        return try JSON.response(WorkloadView(try await controlPlane.cancel(try context.parameters.require("ref"), by: principal)))
    }

    @Sendable func why(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        var view = try await controlPlane.why(try context.parameters.require("ref"), by: principal)
        // A running service behind the gateway: its recent failures, the model's side apart from the infrastructure's.
        if view.state == "running", let rollouts, let e = await controlPlane.current(view.workload), e.kind == "InferenceService" {
            let window = 300
            let faults = rollouts.servingFaults(service: "\(e.team)/\(e.name)", lastSeconds: Double(window))
            let model = faults.filter { $0.key.side == .model }.values.reduce(0, +), infra = faults.filter { $0.key.side == .infrastructure }.values.reduce(0, +)
            view.serving = ServingFaultsView(windowSeconds: window, modelSide: model, infrastructureSide: infra,
                                             reasons: Dictionary(uniqueKeysWithValues: faults.map { ($0.key.rawValue, $0.value) }))
            if model + infra > 0 {
                let causes = faults.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
                // The side of the latest failure says what goes wrong now; the counts say how it went.
                let latest = rollouts.latestServingFault(service: "\(e.team)/\(e.name)")
                let side = latest?.side ?? (model >= infra ? .model : .infrastructure)
                view.reason = side == .model ? "model-side" : "infrastructure-side"
                view.message += "; through the gateway in the last \(window / 60) min \(model + infra) requests failed: model-side \(model), infrastructure-side \(infra) (\(causes))"
                    + "; the latest: \(latest?.rawValue ?? "?"), "
                    + (side == .model ? "the model server's own error: look at its logs (tarmac logs \(e.name)) or roll it back (tarmac rollback SERVICE)"
                                      : "replicas missing, unreachable or overloaded: look at tarmac get \(e.name) and its replicas' readiness")
            }
        }
        return try JSON.response(view)
    }

    /// A checkpoint reported by one of the workload's pods (with its `TARMAC_CHECKPOINT_TOKEN`) or by a person who may
    /// change the workload. The body is optional: `{"step": 1200, "location": "s3://bucket/run/1200"}`.
    @Sendable func checkpoint(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 10)
        var report = CheckpointRequest()
        if body.readableBytes > 0 {
            do { report = try APIJSON.decoder.decode(CheckpointRequest.self, from: Data(buffer: body)) } catch {
                throw APIError(.badRequest, code: "badRequest", "the body must be JSON like {\"step\": 1200, \"location\": \"s3://bucket/run/1200\"} (both optional)")
            }
        }
        let ref = try context.parameters.require("ref")
        let e = try await controlPlane.checkpoint(ref, step: report.step, location: report.location, by: context.principal,
                                                  workloadToken: context.workloadCredential)
        return try JSON.response(WorkloadView(e))
    }

    /// The workload's working directory as an archive (tar): what a Kubernetes pod's init container fetches with its
    /// attempt's credential.
    @Sendable func workdir(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let digest = try await controlPlane.workdir(of: try context.parameters.require("ref"), by: context.principal, workloadToken: context.workloadCredential)
        guard let path = workdirs?.path(digest), let data = FileManager.default.contents(atPath: path) else {
            throw APIError(.notFound, code: "notFound", "working directory \(digest) is not on this server any more")
        }
        return Response(status: .ok, headers: [.contentType: "application/x-tar", .init("Tarmac-Workdir")!: digest],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// One file of the model a workload serves, as registered: for its pods' init container (the attempt's credential)
    /// or a person who may read the team. The sender checks the digest (`Tarmac-SHA256`).
    @Sendable func modelFile(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let path = context.parameters.getCatchAll().joined(separator: "/")
        let (team, file) = try await controlPlane.modelFile(of: try context.parameters.require("ref"), path: path, by: context.principal,
                                                            workloadToken: context.workloadCredential)
        guard let store = try? modelFiles?.team(team), let kept = store.path(file.sha256), FileManager.default.fileExists(atPath: kept) else {
            throw APIError(.notFound, code: "notFound", "\(path) (sha256:\(file.sha256)) is not kept on this server")
        }
        let body = try await FileIO().loadFile(path: kept, context: context)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream", .init("Tarmac-SHA256")!: file.sha256], body: body)
    }

    @Sendable func queue(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let items = await controlPlane.queue(by: principal).enumerated().map { i, p in
            QueueItem(position: i + 1, workload: WorkloadView(p.0), reason: p.1.reason, message: p.1.message)
        }
        return try JSON.response(QueueView(items: items, quotas: await controlPlane.quotaStatus(by: principal)))
    }

    /// The pod's log as plain text; with `follow=true` the response stays open and streams new lines until the workload ends.
    @Sendable func logs(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let q = request.uri.queryParameters
        func int(_ name: String) throws -> Int? {
            guard let s = q.get(name) else { return nil }
            guard let v = Int(s), v >= 0, v < 1_000_000 else { throw APIError(.badRequest, code: "badRequest", "\(name) must be a non-negative integer") }
            return v
        }
        let pod = try int("pod") ?? 0
        let attempt = try int("attempt")
        let follow = q.get("follow").map { $0 == "true" || $0 == "1" } ?? false
        let (w, a) = try await controlPlane.logTarget(try context.parameters.require("ref"), pod: pod, attempt: attempt, by: principal)
        let cp = controlPlane
        let id = w.id
        let body = ResponseBody { writer in
            try await cp.streamLog(workload: id, attempt: a, pod: pod, follow: follow) { try await writer.write(ByteBuffer(bytes: $0)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: body)
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let tarmacWorkdir = Self("Tarmac-Workdir")!
}
