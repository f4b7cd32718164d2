import Foundation
import Hummingbird
import Metrics
import NIOCore
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacRuntime

/// /v1/models: the model registry (versions, aliases); /v1/blobs: model files, content-addressed, streamed to disk as
/// they arrive. The rules are `ModelRegistry`'s; this layer only reads requests and writes answers.
struct ModelController {
    let registry: ModelRegistry

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.post("blobs/missing", use: missing)
        group.put("blobs/:digest", use: putBlob)
        group.get("models", use: list)
        group.get("models/:model", use: get)
        group.post("models/:model/versions", use: registerVersion)
        group.get("models/:model/versions/:version", use: version)
        group.put("models/:model/aliases/:alias", use: moveAlias)
        group.post("models/:model/versions/:version/approve", use: approve)
        group.post("models/:model/promote", use: promote)
    }

    static let registrationFields = ["team", "version", "files", "uri", "signature", "format", "framework", "fromJob", "attempt", "checkpoint", "owner", "labels"]


    /// Which of these file digests the server does not have yet (the CLI sends only those).
    @Sendable func missing(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        try Access.require(p, .submit, "viewers cannot upload model files")
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let asked = try StrictBody.decode(MissingBlobs.self, from: data, known: ["digests"], example: #"{"digests": ["sha256:…"]}"#,
                                          types: "digests must be a list of strings")
        guard asked.digests.count <= 100_000 else { throw APIError(.badRequest, code: "badRequest", "ask about at most 100000 files at once") }
        let a = try registry.files(team: request.uri.queryParameters.get("team"), by: p)
        for d in asked.digests where ModelArtifacts.hex(of: d) == nil {
            throw APIError(.badRequest, code: "badRequest", "'\(d.prefix(80))' is not a content digest (sha256: and 64 lowercase hex digits)")
        }
        var seen: Set<String> = []
        return try JSON.response(MissingBlobs(digests: asked.digests.filter { seen.insert($0).inserted && !a.has($0) }))
    }

    /// One model file, streamed to disk and hashed as it comes; kept only when its digest is the one in the path.
    @Sendable func putBlob(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        try Access.require(p, .submit, "viewers cannot upload model files")
        let digest = try context.parameters.require("digest")
        let a = try registry.files(team: request.uri.queryParameters.get("team"), by: p)
        if a.has(digest) { return Response(status: .ok) }
        var upload: ModelArtifacts.Upload
        do { upload = try a.receive(digest) } catch let r as ModelArtifacts.Refusal {
            throw APIError(.badRequest, code: "badRequest", r.description)
        }
        do {
            for try await chunk in request.body {
                try chunk.withUnsafeReadableBytes { try upload.write($0) }
            }
        } catch let r as ModelArtifacts.Refusal {
            upload.abandon()
            throw APIError(.contentTooLarge, code: "tooLarge", r.description, headers: [.connection: "close"])
        } catch {
            upload.abandon()
            throw error
        }
        let bytes = upload.bytes
        do {
            let created = try upload.finish()
            Counter(label: "tarmac_model_bytes_received_total").increment(by: Int(bytes))
            context.logger.info("model file stored", metadata: ["digest": "\(digest)", "bytes": "\(bytes)", "by": "\(p.actor)"])
            return Response(status: created ? .created : .ok)
        } catch let r as ModelArtifacts.Refusal {
            throw APIError(.unprocessableContent, code: "invalid", r.description)
        }
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        return try JSON.response(ModelList(items: try await registry.summaries(team: request.uri.queryParameters.get("team"), by: p)))
    }

    @Sendable func get(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let m = try await registry.model(try context.parameters.require("model"), team: request.uri.queryParameters.get("team"), by: p)
        return try JSON.response(ModelView(versions: m.versions, aliases: m.aliases))
    }

    @Sendable func version(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let model = try context.parameters.require("model")
        let team = request.uri.queryParameters.get("team")
        let v = try await registry.version(model, try context.parameters.require("version"), team: team, by: p)
        let aliases = try await registry.model(model, team: v.team, by: p).aliases
        var view = ModelVersionView(v, aliases: aliases, full: true)
        view.approvals = try await registry.approvals(of: v).map { ApprovalView(by: $0.by, at: $0.at, digest: $0.digest, comment: $0.comment) }
        return try JSON.response(view)
    }

    @Sendable func registerVersion(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let model = try context.parameters.require("model")
        let data = Data(buffer: try await request.body.collect(upTo: BodyLimits.registration))
        let body = try StrictBody.decode(ModelRegistration.self, from: data, known: Self.registrationFields,
                                         example: #"{"version": "1.0.0", "files": [{"path": "model.safetensors", "sha256": "…", "size": 1024}]}"#,
                                         types: "version must be a string, files a list of {path, sha256, size}, labels an object of strings, attempt a number")
        let (v, created) = try await registry.register(model: model, body, by: p)
        let aliases = try await registry.model(model, team: v.team, by: p).aliases
        return try JSON.response(ModelVersionView(v, aliases: aliases), status: created ? .created : .ok,
                                 headers: [.location: "/v1/models/\(model)/versions/\(v.version)?team=\(v.team)"])
    }

    @Sendable func approve(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let body = data.isEmpty ? ApprovalRequest()
            : try StrictBody.decode(ApprovalRequest.self, from: data, known: ["team", "comment"], example: #"{"comment": "weights match the eval run"}"#,
                                    types: "team and comment must be strings")
        let (a, created) = try await registry.approve(try context.parameters.require("model"), try context.parameters.require("version"), body, by: p)
        return try JSON.response(ApprovalView(by: a.by, at: a.at, digest: a.digest, comment: a.comment), status: created ? .created : .ok)
    }

    @Sendable func promote(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let body = try StrictBody.decode(PromotionRequestBody.self, from: data, known: ["team", "version", "env", "dryRun"],
                                         example: #"{"version": "1.4.0", "env": "prod"}"#, types: "version, env and team must be strings, dryRun a boolean")
        let result = try await registry.promote(try context.parameters.require("model"), body, by: p)
        return try JSON.response(result.view)
    }

    @Sendable func moveAlias(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let body = try StrictBody.decode(AliasMove.self, from: data, known: ["team", "version", "expected"], example: #"{"version": "1.4.0"}"#,
                                         types: "version, expected and team must be strings")
        let moved = try await registry.moveAlias(try context.parameters.require("model"), alias: try context.parameters.require("alias"), body, by: p)
        return try JSON.response(ModelAliasView(moved))
    }
}
