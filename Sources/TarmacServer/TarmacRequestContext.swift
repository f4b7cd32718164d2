import TarmacCore
import Hummingbird
import TarmacRuntime

/// The request context: Hummingbird's core storage plus who is calling, once authenticated.
public struct TarmacRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// A workload's checkpoint credential, when that is what the caller presented instead of a token.
    public var workloadCredential: String?
    /// The SHA-256 of the bearer token the caller presented (what a portal sign-in link is made for).
    public var tokenHash: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
    }

    /// Request bodies larger than this are refused with 413 (working directories; every other route collects at most
    /// `ServerLimits.maxBody`).
    public var maxUploadSize: Int { ServerLimits.maxUpload }

    /// The authenticated caller (routes behind `AuthMiddleware` always have one).
    func caller() throws -> Principal {
        guard let principal else {
            if workloadCredential != nil {
                throw APIError(.forbidden, code: "forbidden", "a workload's checkpoint credential can only report its checkpoints (POST /v1/workloads/{id}/checkpoint)")
            }
            throw APIError(.unauthorized, code: "unauthenticated", "a bearer token is required")
        }
        return principal
    }
}

public enum ServerLimits {
    public static let maxBody = 1 << 20
    public static let maxUpload = 65 << 20
    /// The largest model file taken by default (`ModelArtifacts.defaultFileLimit`).
    public static let maxModelFile = 64 << 30
}
