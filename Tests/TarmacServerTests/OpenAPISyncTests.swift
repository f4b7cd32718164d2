import TarmacCore
import Foundation
import Testing
import TarmacAPI
import TarmacRuntime
import TarmacTesting
import Yams

/// The wire types (TarmacAPI) and the OpenAPI document describe the same JSON: every field of a fully populated value
/// is a property of its schema with the right JSON type, every property is a field, every required property is there.
@Suite struct OpenAPISyncTests {
    static var spec: [String: Any] {
        let text = try! String(contentsOfFile: Fixtures.path("Sources/TarmacServer/openapi.yaml"), encoding: .utf8)
        return try! Yams.load(yaml: text) as! [String: Any]
    }

    static var schemas: [String: Any] { ((spec["components"] as! [String: Any])["schemas"] as! [String: Any]) }

    static let at = Date(timeIntervalSince1970: 1_800_000_000.25)
    static let checkpoint = CheckpointView(at: at, attempt: 2, step: 1200, location: "s3://ckpt/1200")
    static let workload = { var w = WorkloadView(id: "wl-1", name: "ft", team: "search", env: "dev", kind: "TrainingJob", owner: "alice", submittedBy: "admin",
                                       requestID: "r-1", size: "small", pods: 2, priority: 100, state: "running", message: "m", cause: "c", attempt: 2,
                                       maxAttempts: 3, cancelRequested: false, createdAt: at, updatedAt: at, admittedAt: at, startedAt: at, finishedAt: at,
                                       placements: [PlacementView(node: "n", gpus: [0, 1], gpuMilli: 1000)], exitCode: 0, gpuSeconds: 1.5,
                                       cpuSeconds: 2.5, lastCheckpoint: checkpoint, endpoints: ["http://127.0.0.1:41000"], warnings: [diagnostic])
                            w.gpu = workloadTelemetry
                            w.budget = "b"
                            w.cost = 1.25
                            w.cluster = "east"
                            return w }()
    static let estimate = StartEstimateView(at: at, inSeconds: 60, message: "m", assumptions: ["a"])
    static let quota = TeamQuotaView(team: "search", cohort: "research", lines: [.init(resource: "h100 GPUs", nominal: 16, used: 8, borrowed: 1, lent: 2)], hold: "h")
    static let facts = WhyFacts(resource: "h100 GPUs", needed: 16.5, available: 8.5, exitCode: 1, signal: 9, memoryLimitBytes: 1 << 30,
                                peakMemoryBytes: 1 << 31, maxDurationSeconds: 3600, ranSeconds: 3601, suggestedSize: "large")
    static let diagnostic = DiagnosticPayload(severity: "error", file: "f", line: 1, column: 2, message: "m", rule: "r", help: "h", text: "t")

    static let modelFile = ModelFileView(path: "weights/model.safetensors", sha256: String(repeating: "ab", count: 32), size: 4096)
    static let lineage = ModelVersionView.Lineage(workload: "wl-1", attempt: 2, checkpoint: "step-100")
    static let modelAlias = ModelAliasView(name: "champion", version: "1.0.0", movedBy: "alice", movedAt: at)
    static let modelVersion = ModelVersionView(team: "search", model: "ranker", version: "1.0.0", digest: "sha256:ab", artifact: "tarmac", files: 1, bytes: 4096,
                                               signed: true, format: "safetensors", framework: "pytorch", lineage: lineage, owner: "bob",
                                               labels: ["task": "rank"], aliases: ["champion"], registeredBy: "alice", registeredAt: at,
                                               manifest: [modelFile], signature: "MEUC", approvals: [approval])
    static let rollout = RolloutView(team: "search", service: "ranker", env: "dev", strategy: "canary", steps: ["10%", "analysis 60s"], from: "ranker@1.0.0",
                                     to: "ranker@1.1.0", fromWorkload: "wl-1", toWorkload: "wl-2", phase: "promoted", message: "m", weights: ["1.0.0": 0, "1.1.0": 100],
                                     startedBy: "alice", startedAt: at, warmUntil: at, previousWarm: true, coldStartSeconds: 12.5)
    static let workloadTelemetry = WorkloadTelemetryView(workload: "wl-1", name: "ft", team: "search", env: "dev", kind: "TrainingJob", gpus: 0.5, utilization: 64,
                                                         memoryUsedMiB: 2048, throttling: ["sw_thermal_slowdown"])
    static let deviceTelemetry = DeviceTelemetryView(node: "n", gpu: 0, utilization: 64, memoryUsedMiB: 2048, memoryTotalMiB: 23034, powerWatts: 51.5, throttling: ["hw_slowdown"])
    static let allocation = AllocationView(name: "search-dev", properties: ["namespace": "search-dev"], start: at, end: at.addingTimeInterval(3600), cpuCoreHours: 2,
                                           cpuCost: 0.08, gpuHours: 1, gpuCost: 4.1, ramByteHours: 1_073_741_824, ramCost: 0.005)
    static let budget = BudgetView(team: "search", month: "2026-12", monthly: 100, gpuHoursLimit: 50, warnAt: 0.8, spent: 81, gpuHours: 10, forecast: 120,
                                   forecastGPUHours: 20, state: "warning", message: "m")
    static let usageLine = { var l = UsageLineView(keys: ["team": "search"], gpuHours: 1.5, cpuHours: 2.5, memoryGiBHours: 3.5, cost: 4.25, workloads: 2)
                             l.promptTokens = 100
                             l.completionTokens = 200
                             l.requests = 10
                             l.costPer1kTokens = 14.1
                             l.modelLoads = 2
                             l.modelLoadSecondsMean = 12.5
                             return l }()
    static let inferenceCost = InferenceCostView(name: "search/ranker", window: .init(start: at, end: at), promptTokens: 100, completionTokens: 200, requests: 10,
                                                 gpuHours: 1.5, totalCost: 4.25, costPer1kTokens: 14.1, modelLoads: 2, modelLoadSecondsMean: 12.5)
    static let review = ReviewView(team: "search", digest: "sha256:ab", kind: "InferenceService", name: "ranker", by: "carol", at: at, comment: "c")
    static let approval = ApprovalView(by: "carol", at: at, digest: "sha256:ab", comment: "c")

    static let grant = GrantView(id: "grt-1", agent: "spiffe://acme/x", agentName: "x", workload: "wl-1", team: "a", env: "dev", tool: "tickets", scope: "read",
                                 onBehalfOf: "dan", requestedBy: "dan", approvers: "role:admin", state: "approved", decidedBy: "ops", decidedAt: at,
                                 reason: "r", createdAt: at, expiresAt: at)

    /// Every wire type with a schema of the same shape, fully populated.
    static let cases: [(String, any Encodable & Sendable)] = [
        ("Workload", workload),
        ("Placement", PlacementView(node: "n", gpus: [0], gpuMilli: 500)),
        ("Checkpoint", checkpoint),
        ("CheckpointRequest", CheckpointRequest(step: 3, location: "/ckpt")),
        ("Why", { var w = WhyView(workload: "wl-1", name: "ft", state: "queued", reason: "quota", message: "m", lastCheckpoint: checkpoint, facts: facts)
                  w.serving = ServingFaultsView(windowSeconds: 300, modelSide: 3, infrastructureSide: 1, reasons: ["model_error": 3, "no_replica": 1])
                  w.gpu = workloadTelemetry
                  w.estimatedStart = estimate
                  return w }()),
        ("WhyFacts", facts),
        ("QueueItem", QueueItem(position: 1, workload: workload, reason: "shape", message: "m")),
        ("AuditRecord", AuditView(seq: 1, time: at, actorKind: "user", actorID: "a", action: "submit", object: "workload/wl-1", before: "",
                                  after: "x", detail: "d", previousHash: "p", hash: "h")),
        ("Verification", AuditVerification(ok: false, records: 3, head: "h", firstBad: 2, problem: "p",
                                           problems: [.init(seq: 2, message: "m")], anchorsChecked: 1)),
        ("Token", TokenView(id: "tok-1", name: "n", role: "member", team: "search", createdAt: at, expiresAt: at, revoked: false,
                            createdBy: "admin", secret: "tmc_x")),
        ("TokenRequest", TokenRequest(name: "n", role: "member", team: "search", ttlSeconds: 60)),
        ("WhoAmI", WhoAmI(name: "n", role: "admin", team: "search", tokenID: "tok-1")),
        ("Node", NodeView(name: "n", cpuMilli: 1000, memoryMiB: 1024, gpus: 8, accelerator: "h100", pool: "h100", domain: "rack-1", cluster: "east")),
        ("Cluster", ClusterView(name: "east", region: "us-east", reachable: true, lost: false, lastContact: at, unreachableSince: at, nodes: 2,
                                pools: [.init(pool: "gpu", nodes: 2, gpus: 8, gpusUsed: 4.5)], workloads: 1, dispatched: 3, rejected: ["refused": 1], failovers: 1,
                                drift: ["ResourceQuota search-dev/quota: spec.hard"], driftAt: at, platformErrors: ["e"], lastSync: at)),
        ("Platform", PlatformView(name: "acme", environments: ["dev"], teams: ["search"], accelerators: ["h100"], pools: ["h100"],
                                  priorities: ["training": 100], nodes: [NodeView(name: "n", cpuMilli: 1, memoryMiB: 1, gpus: 0, accelerator: "l4",
                                                                                   pool: "l4", domain: "d", cluster: "east")])),
        ("Size", SizeView(workloadClass: "training", name: "small", cpu: "8", memory: "32Gi", gpus: "1", accelerator: "l4", description: "d",
                          startsHere: false, why: "cannot start here: this machine has no l4 GPUs (it has: none)", pools: ["serve-l4"], hourlyCost: 1.28)),
        ("SVID", SVIDView(spiffeID: "spiffe://acme/team/a/env/dev/agent/x", svid: "e.y.z", expiresAt: at)),
        ("SVIDRequest", SVIDRequest(bootstrap: "tib_x", serviceAccountToken: "e.y.z", svid: "e.y.z", audience: ["tickets"])),
        ("TokenExchangeResponse", TokenExchangeResponse(access_token: "e.y.z", issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
                                                        token_type: "Bearer", expires_in: 60, scope: "read")),
        ("OAuthError", OAuthErrorBody(error: "invalid_scope", error_description: "d")),
        ("Grant", grant),
        ("GrantDecision", GrantDecisionRequest(lifetimeSeconds: 60, reason: "r")),
        ("KeyRotation", KeyRotationView(kid: "k", published: ["k", "j"])),
        ("GrantList", GrantList(items: [grant])),
        ("JWKS", JWKSDocument(keys: [.init(kid: "k", x: "x", y: "y")])),
        ("TokenExchangeRequest", TokenExchangeRequest(grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: "tmc_x",
                                                      subject_token_type: "urn:ietf:params:oauth:token-type:access_token", actor_token: "e.y.z",
                                                      actor_token_type: "urn:ietf:params:oauth:token-type:jwt", audience: "tickets", resource: "r", scope: "read")),
        ("ModelFile", modelFile),
        ("AnalysisRule", AnalysisRuleBody(metric: "successRate", threshold: 0.99, minRequests: 50)),
        ("RolloutRequest", RolloutRequest(team: "search", service: "ranker", to: "1.1.0", strategy: "canary", steps: ["10", "analysis 60s"],
                                          rules: [AnalysisRuleBody(metric: "p99LatencyMs", threshold: 500, minRequests: 20)], rollbackWindowSeconds: 3600,
                                          previewSeconds: 120)),
        ("Rollout", rollout),
        ("RolloutList", RolloutList(items: [rollout])),
        ("ApprovalRequest", ApprovalRequest(team: "search", comment: "c")),
        ("Approval", approval),
        ("ReviewRequest", ReviewRequest(document: "kind: InferenceService", digest: "sha256:ab", team: "search", kind: "InferenceService", name: "ranker", comment: "c")),
        ("Review", review),
        ("UsageLine", usageLine),
        ("UsageReport", UsageReportView(by: ["team"], since: "2026-12-01", until: "2026-12-08", items: [usageLine], total: usageLine, budgets: [budget])),
        ("Budget", budget),
        ("Allocation", allocation),
        ("WorkloadTelemetry", workloadTelemetry),
        ("DeviceTelemetry", deviceTelemetry),
        ("Telemetry", TelemetryView(at: at, workloads: [workloadTelemetry], devices: [deviceTelemetry])),
        ("AllocationResponse", AllocationResponse(data: [["search-dev": allocation]])),
        ("InferenceCost", inferenceCost),
        ("InferenceCostResponse", InferenceCostResponse(data: ["search/ranker": inferenceCost])),
        ("ReviewList", ReviewList(items: [review])),
        ("PromotionRequest", PromotionRequestBody(team: "search", version: "1.1.0", env: "prod", dryRun: true)),
        ("Gate", GateView(gate: "review", passed: false, message: "m")),
        ("Promotion", PromotionView(team: "search", model: "ranker", version: "1.1.0", env: "prod", alias: "prod", previous: "1.0.0", promoted: true,
                                    dryRun: false, gates: [GateView(gate: "signature", passed: true, message: "signed by release")])),
        ("ModelRegistration", ModelRegistration(team: "search", version: "1.0.0", files: [modelFile], uri: "s3://b/k", signature: "MEUC", format: "safetensors",
                                                framework: "pytorch", fromJob: "ft", attempt: 2, checkpoint: "step-100", owner: "bob", labels: ["task": "rank"])),
        ("ModelLineage", lineage),
        ("ModelVersion", modelVersion),
        ("ModelAlias", modelAlias),
        ("Model", ModelView(team: "search", name: "ranker", versions: [modelVersion], aliases: [modelAlias])),
        ("ModelSummary", ModelSummary(team: "search", name: "ranker", versions: 2, latest: "1.1.0", aliases: ["champion": "1.0.0"])),
        ("ModelList", ModelList(items: [ModelSummary(team: "search", name: "ranker", versions: 2, latest: "1.1.0", aliases: ["champion": "1.0.0"])])),
        ("AliasMove", AliasMove(team: "search", version: "1.1.0", expected: "1.0.0")),
        ("MissingBlobs", MissingBlobs(digests: ["sha256:" + String(repeating: "a", count: 64)])),
        ("Error", ErrorBody(error: .init(code: "invalid", message: "m", diagnostics: [diagnostic]))),
        ("Diagnostic", diagnostic),
        ("StartEstimate", estimate),
        ("Feasibility", FeasibilityView(verdict: "waits", message: "m", reason: "quota", estimatedStart: estimate)),
        ("SubmitCheck", SubmitCheckView(valid: true, diagnostics: [diagnostic], feasibility: FeasibilityView(verdict: "fitsNow", message: "m", reason: "quota", estimatedStart: estimate))),
        ("TeamQuota", quota),
        ("QueueView", QueueView(items: [QueueItem(position: 1, workload: workload, reason: "shape", message: "m")], quotas: [quota])),
        ("PortalLink", PortalLinkView(url: "http://h/portal/link?code=c", expiresAt: at)),
    ]

    @Test(arguments: cases.map(\.0))
    func theWireTypeAndItsSchemaAgree(_ name: String) throws {
        let value = Self.cases.first { $0.0 == name }!.1
        let json = try JSONSerialization.jsonObject(with: try APIJSON.encoder.encode(value))
        var problems: [String] = []
        Self.check(json, against: ["$ref": "#/components/schemas/\(name)"], at: name, &problems)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The audit trail's actor kinds are an enum in the document: each kind the trail writes is in it (the gateway's
    /// `agent-for` records were once missing, and a client validating answers against the document refused them).
    @Test func everyKindOfActorIsInTheAuditRecordSchema() {
        let properties = (Self.schemas["AuditRecord"] as? [String: Any])?["properties"] as? [String: Any]
        let listed = ((properties?["actorKind"] as? [String: Any])?["enum"] as? [Any])?.map { "\($0)" } ?? []
        #expect(Set(listed) == Set(AuditActor.Kind.allCases.map(\.rawValue)))
    }

    @Test func everyObjectSchemaHasAWireType() {
        let objects = Self.schemas.filter { (($0.value as? [String: Any])?["type"] as? String) == "object" }.keys
        #expect(Set(objects).subtracting(Self.cases.map(\.0)).sorted() == [])
    }

    static func resolve(_ schema: [String: Any], _ schemas: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String else { return schema }
        return schemas[String(ref.split(separator: "/").last!)] as! [String: Any]
    }

    static func check(_ value: Any, against raw: [String: Any], at path: String, _ problems: inout [String], schemas: [String: Any] = schemas) {
        let schema = resolve(raw, schemas)
        if let e = schema["enum"] as? [Any], let s = value as? String, !e.contains(where: { "\($0)" == s }) {
            problems.append("\(path): '\(s)' is not one of \(e)")
        }
        switch schema["type"] as? String {
        case "object":
            guard let dict = value as? [String: Any] else { return problems.append("\(path): not an object") }
            if let props = schema["properties"] as? [String: Any] {
                let fields = Set(dict.keys), declared = Set(props.keys)
                for f in fields.subtracting(declared).sorted() { problems.append("\(path).\(f): a field of the wire type, not in the schema") }
                for f in declared.subtracting(fields).sorted() { problems.append("\(path).\(f): in the schema, not a field of the wire type") }
                for (k, v) in dict { if let sub = props[k] as? [String: Any] { check(v, against: sub, at: "\(path).\(k)", &problems, schemas: schemas) } }
            }
            if let additional = schema["additionalProperties"] as? [String: Any] {
                for (k, v) in dict { check(v, against: additional, at: "\(path).\(k)", &problems, schemas: schemas) }
            }
            for r in schema["required"] as? [String] ?? [] where dict[r] == nil { problems.append("\(path).\(r): required but missing") }
        case "array":
            guard let items = value as? [Any] else { return problems.append("\(path): not an array") }
            if items.isEmpty { problems.append("\(path): give the sample an element so its schema is checked") }
            for (i, item) in items.enumerated() { check(item, against: schema["items"] as? [String: Any] ?? [:], at: "\(path)[\(i)]", &problems, schemas: schemas) }
        case "string":
            if !(value is String) { problems.append("\(path): not a string") }
            if schema["format"] as? String == "date-time", let s = value as? String, (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(s)) == nil {
                problems.append("\(path): '\(s)' is not an RFC 3339 time")
            }
        case "integer":
            // Samples give fractional values to every number field, so a number declared an integer shows here.
            if let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() {} else { problems.append("\(path): not an integer") }
        case "number":
            if !(value is NSNumber) { problems.append("\(path): not a number") }
        case "boolean":
            if !(value is Bool) { problems.append("\(path): not a boolean") }
        default:
            break
        }
    }
}
