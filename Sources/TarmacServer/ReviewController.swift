import Foundation
import Hummingbird
import TarmacAPI
import TarmacContract
import TarmacCore
import TarmacRuntime

/// /v1/reviews: reviews of serving documents (an environment's promotion contract may ask that what serves there was
/// reviewed by someone other than the person who submits it). The rules are `ModelRegistry`'s.
struct ReviewController {
    let registry: ModelRegistry

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.post("reviews", use: review)
        group.get("reviews", use: list)
    }

    @Sendable func review(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let body = try StrictBody.decode(ReviewRequest.self, from: data, known: ["document", "digest", "team", "kind", "name", "comment"],
                                         example: #"{"document": "apiVersion: tarmac.dev/v1\nkind: InferenceService\n…", "comment": "canary steps look right"}"#,
                                         types: "every field is a string")
        let (digest, team, kind, name) = try Self.subject(body, caller: p)
        let (r, created) = try await registry.review(digest: digest, team: team, kind: kind, name: name, comment: body.comment, by: p)
        return try JSON.response(Self.view(r), status: created ? .created : .ok)
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        guard let digest = q.get("digest") else { throw APIError(.badRequest, code: "badRequest", "give the document's digest: ?digest=sha256:…") }
        guard let team = q.get("team") ?? p.team else { throw APIError(.badRequest, code: "badRequest", "give the team: ?team=NAME") }
        let items = try await registry.reviews(digest: digest, team: team, by: p)
        return try JSON.response(ReviewList(items: items.map(Self.view)))
    }

    /// What is reviewed: the document's digest, team, kind and name, read from the document or given.
    static func subject(_ body: ReviewRequest, caller p: Principal) throws -> (digest: String, team: String, kind: String, name: String) {
        if let text = body.document {
            guard body.digest == nil else { throw APIError(.badRequest, code: "badRequest", "give the document or its digest, not both") }
            let read = DocumentReader.read(text: text, file: "document")
            guard read.workloads.count == 1, read.platformFiles.isEmpty, let w = read.workloads.first, w.isValid else {
                throw APIError(.unprocessableContent, code: "invalid", "the document must be one workload document (an InferenceService, as it will be submitted); found \(read.workloads.count) workloads")
            }
            if let t = body.team, t != w.metadata.team { throw APIError(.badRequest, code: "badRequest", "team \(t) is not the document's (\(w.metadata.team))") }
            return (DocumentReview.digest(of: text), w.metadata.team, w.kind.rawValue, w.metadata.name)
        }
        guard let digest = body.digest else { throw APIError(.badRequest, code: "badRequest", "give the document (its text) or its digest") }
        guard let team = body.team ?? p.team else { throw APIError(.badRequest, code: "badRequest", "give the team the document is for") }
        return (digest, team, body.kind ?? "InferenceService", body.name ?? "")
    }

    static func view(_ r: DocumentReview) -> ReviewView {
        ReviewView(team: r.team, digest: r.digest, kind: r.kind, name: r.name, by: r.by, at: r.at, comment: r.comment)
    }
}
