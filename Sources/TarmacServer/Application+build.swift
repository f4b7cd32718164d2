import TarmacCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import TarmacCredentials
import TarmacPortal
import TarmacRuntime
import TarmacWorkdir

/// What the HTTP server is built from.
public struct ServerDependencies: Sendable {
    public var controlPlane: ControlPlane
    public var tokens: Tokens
    public var registry: PrometheusCollectorRegistry
    /// Whether the backend runs images (Kubernetes) or only commands (local processes).
    public var runsImages: Bool
    /// Requests per second per token (0: unlimited) and the burst allowed.
    public var rateLimit: Double
    public var rateBurst: Double
    /// The audit anchor file `audit/verify` checks the chain against (nil: none).
    public var auditAnchors: String?
    /// Uploaded working directories (nil: workloads cannot have one).
    public var workdirs: WorkdirStore?
    /// The model registry (nil: no model routes).
    public var models: ModelRegistry?
    /// Rollouts of InferenceServices (nil: no rollout routes; they need the inference gateway).
    public var rollouts: RolloutRunner?
    /// GPU readings by workload (nil: no telemetry source here).
    public var telemetry: GPUTelemetryService?
    /// Workload and agent credentials (nil: no identity routes).
    public var credentials: CredentialAuthority?
    /// The tool gateway's address, for documents that point at it.
    public var gatewayURL: String?
    /// Open once the control plane has recovered its state: until then requests wait (the probes answer at once).
    public var recovered: ReadinessGate
    /// How large a body each route takes, and how long an upload may stall before it is cut off (`UploadGuard`).
    public var bodyLimits: BodyLimits
    public var uploadIdleTimeout: Duration
    /// The portal's sessions (nil: no portal is served).
    public var portal: PortalSessions?
    /// Mark the portal's session cookie `Secure` (served over TLS).
    public var secureCookies = false

    public init(controlPlane: ControlPlane, tokens: Tokens, registry: PrometheusCollectorRegistry, runsImages: Bool,
                rateLimit: Double = 50, rateBurst: Double = 200, auditAnchors: String? = nil, workdirs: WorkdirStore? = nil,
                credentials: CredentialAuthority? = nil, gatewayURL: String? = nil, recovered: ReadinessGate = ReadinessGate(open: true),
                bodyLimits: BodyLimits? = nil, uploadIdleTimeout: Duration = .seconds(30), models: ModelRegistry? = nil,
                rollouts: RolloutRunner? = nil) {
        self.models = models
        self.rollouts = rollouts
        self.recovered = recovered
        self.bodyLimits = bodyLimits ?? BodyLimits(upload: workdirs.map { $0.limit + (1 << 20) } ?? ServerLimits.maxUpload,
                                                      modelFile: models?.artifacts.map { Int($0.fileLimit) } ?? ServerLimits.maxModelFile)
        self.uploadIdleTimeout = uploadIdleTimeout
        self.workdirs = workdirs
        self.credentials = credentials
        self.gatewayURL = gatewayURL
        self.auditAnchors = auditAnchors
        self.controlPlane = controlPlane
        self.tokens = tokens
        self.registry = registry
        self.runsImages = runsImages
        self.rateLimit = rateLimit
        self.rateBurst = rateBurst
    }
}

/// The API's router: public probes and documents at the root, everything else under /v1 behind bearer tokens.
public func buildRouter(_ deps: ServerDependencies) -> Router<TarmacRequestContext> {
    let router = Router(context: TarmacRequestContext.self)
    router.middlewares.add(ErrorMiddleware(limits: deps.bodyLimits))
    router.middlewares.add(MetricsMiddleware())
    router.middlewares.add(RequestLogMiddleware())
    router.middlewares.add(RecoveryMiddleware(recovered: deps.recovered))
    HealthController(controlPlane: deps.controlPlane, registry: deps.registry, recovered: deps.recovered).register(router)
    let identity = deps.credentials.map { IdentityController(authority: $0, tokens: deps.tokens, gatewayURL: deps.gatewayURL) }
    identity?.registerPublic(router)
    // One limiter for the API and the portal: a token's budget is the same through either.
    let limiter = RateLimiter(rate: deps.rateLimit, burst: deps.rateBurst)
    let v1 = router.group("v1").add(middleware: AuthMiddleware(tokens: deps.tokens, limiter: limiter))
    WorkloadController(controlPlane: deps.controlPlane, runsImages: deps.runsImages, workdirs: deps.workdirs, rollouts: deps.rollouts,
                       modelFiles: deps.models?.artifacts).register(v1)
    WorkdirController(workdirs: deps.workdirs).register(v1)
    AuditController(controlPlane: deps.controlPlane, anchors: deps.auditAnchors).register(v1)
    TokenController(tokens: deps.tokens).register(v1)
    PlatformController(controlPlane: deps.controlPlane).register(v1)
    identity?.register(v1)
    deps.models.map { ModelController(registry: $0).register(v1) }
    ReviewController(registry: deps.models ?? ModelRegistry(store: deps.controlPlane.store, controlPlane: deps.controlPlane, artifacts: nil)).register(v1)
    RolloutController(runner: deps.rollouts).register(v1)
    UsageController(controlPlane: deps.controlPlane).register(v1)
    TelemetryController(telemetry: deps.telemetry).register(v1)
    if let sessions = deps.portal {
        Portal<TarmacRequestContext>(PortalDependencies(controlPlane: deps.controlPlane, tokens: deps.tokens, sessions: sessions, runsImages: deps.runsImages,
                                                        secureCookies: deps.secureCookies, models: deps.models, rollouts: deps.rollouts,
                                                        auditAnchors: deps.auditAnchors, workdirs: deps.workdirs,
                                                        limiter: limiter)).register(router)
        PortalLinkController(sessions: sessions).register(v1)
    }
    return router
}

public func buildApplication(_ deps: ServerDependencies, host: String, port: Int, services: [any Service],
                             onServerRunning: @escaping @Sendable (any Channel) async -> Void, logger: Logger) -> some ApplicationProtocol {
    let limits = deps.bodyLimits
    let idle = TimeAmount.nanoseconds(Int64(deps.uploadIdleTimeout.components.seconds) * 1_000_000_000 + deps.uploadIdleTimeout.components.attoseconds / 1_000_000_000)
    return Application(router: buildRouter(deps),
                       server: .http1(configuration: .init(additionalChannelHandlers: [UploadGuard(limits: limits, idleTimeout: idle)])),
                       configuration: .init(address: .hostname(host, port: port), serverName: "tarmac"),
                       services: services, onServerRunning: onServerRunning, logger: logger)
}

/// /healthz (the process serves), /readyz (the control plane has recovered its state), /metrics, /openapi.yaml.
struct HealthController {
    let controlPlane: ControlPlane
    let registry: PrometheusCollectorRegistry
    let recovered: ReadinessGate

    func register(_ router: Router<TarmacRequestContext>) {
        router.get("healthz") { _, _ in JSON.text("ok\n") }
        router.get("readyz") { _, _ in
            await controlPlane.ready && recovered.isOpen ? JSON.text("ready\n")
                : JSON.text("recovering state\n", status: .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            var out: [UInt8] = []
            registry.emit(into: &out)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: out)))
        }
        router.get("openapi.yaml") { _, _ in
            JSON.text(OpenAPIDocument.yaml, contentType: "application/yaml")
        }
    }
}

/// The OpenAPI 3.1 document of this API (Sources/TarmacServer/openapi.yaml).
public enum OpenAPIDocument {
    public static let yaml: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "openapi: 3.1.0\n" }
        return text
    }()
}
