import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import TarmacAPI
import TarmacCore
import TarmacGateway
import TarmacRuntime
import TarmacServer
import TarmacTesting
import Testing

/// The promotion contract's review gate over the serving document (#26): where an environment asks for a review, an
/// InferenceService serves there only once someone other than its submitter reviewed that exact document (its
/// digest); a document that replaces a running service's with another model version and carries `spec.rollout` starts
/// that rollout, under the same gate. Refusals name the gate and change nothing.
@Suite struct ServingReviewTests {
    static func document(_ version: String, rollout: String? = nil) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: InferenceService
        metadata: {name: ranker, team: search, env: staging, owner: alice@acme.example}
        spec:
          size: cpu-small
          model: ranker@\(version)
          image: docker.io/library/python:3.12-slim
          command: [python3, -m, http.server]
          port: 8080
        """ + (rollout.map { "\n  rollout:\n" + $0.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") } ?? "") + "\n"
    }

    struct Answer: CustomStringConvertible {
        var status: HTTPResponse.Status
        var json: [String: Any]
        var headers: HTTPFields
        var message: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
        var gates: [String] { ((json["error"] as? [String: Any])?["diagnostics"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String } }
        var description: String { "\(status) \(json)" }
    }

    @Test func aServingDocumentNeedsAReviewBySomeoneElseAndARolloutInItIsGatedTheSameWay() async throws {
        let h = try await RolloutAPITests.harness(staging: "{requireReview: true}")
        let carol = try await h.tokens.create(name: "carol", role: .member, team: "search", ttl: nil, by: AuditActor(kind: .user, id: "admin")).secret
        let runner = RolloutRunner(controlPlane: h.cp, metrics: InferenceStats(), serving: { _ in false })
        let app = Application(router: buildRouter(ServerDependencies(controlPlane: h.cp, tokens: h.tokens, registry: PrometheusCollectorRegistry(),
                                                                     runsImages: false, rateLimit: 0, rollouts: runner)))
        let admin = Principal(tokenID: "t-admin", name: "admin", role: .admin, team: nil)
        try await app.test(.router) { c async throws in
            func call(_ method: HTTPRequest.Method, _ path: String, _ token: String, _ body: String, json: Bool = false) async throws -> Answer {
                let r = try await c.execute(uri: path, method: method, headers: [.authorization: "Bearer \(token)", .contentType: json ? "application/json" : "application/yaml"],
                                            body: ByteBuffer(string: body))
                return Answer(status: r.status, json: ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]) ?? [:], headers: r.headers)
            }
            func review(_ doc: String, _ token: String) async throws -> Answer {
                let body = String(decoding: try JSONEncoder().encode(ReviewRequest(document: doc, comment: "read it")), as: UTF8.self)
                return try await call(.post, "/v1/reviews", token, body, json: true)
            }
            let v1 = Self.document("1.0.0")
            let digest = DocumentReview.digest(of: v1)

            // Nobody reviewed it: refused, naming the gate and the document; nothing is queued.
            var r = try await call(.post, "/v1/workloads", h.member, v1)
            #expect(r.status == .unprocessableContent, "\(r)")
            #expect(r.message.contains("environment staging's promotion contract refuses serving ranker@1.0.0: review: the serving document needs a review by someone other than its author: nobody approved it"), "\(r.message)")
            #expect(r.message.contains(digest) && r.message.contains("tarmac review approve FILE"), "\(r.message)")
            #expect(r.gates.count == 1 && r.gates[0].hasPrefix("request:1:1: error: environment staging's promotion contract refuses serving ranker@1.0.0: review: ")
                    && r.gates[0].hasSuffix("[promotion-review]"), "only the gate asked for, failing, at the document: \(r.gates)")
            #expect(await h.cp.list(WorkloadFilter(), by: admin).isEmpty, "nothing was queued")

            // Its author's own review does not count.
            r = try await review(v1, h.member)
            #expect(r.status == .created && r.json["digest"] as? String == digest && r.json["by"] as? String == "alice" && r.json["name"] as? String == "ranker", "\(r)")
            r = try await call(.post, "/v1/workloads", h.member, v1)
            #expect(r.status == .unprocessableContent && r.message.contains("approved only by its author (alice)"), "\(r)")
            // Another team's member cannot review it; a viewer cannot either.
            #expect(try await review(v1, h.outsider).status == .notFound, "another team is not probeable")
            #expect(try await review(v1, h.viewer).status == .forbidden)

            // Reviewed by carol: served. Her second review changes nothing.
            #expect(try await review(v1, carol).status == .created)
            #expect(try await review(v1, carol).status == .ok)
            r = try await call(.get, "/v1/reviews?team=search&digest=\(digest)", h.viewer, "")
            #expect((r.json["items"] as? [[String: Any]])?.compactMap { $0["by"] as? String } == ["alice", "carol"], "\(r)")
            #expect(try await call(.get, "/v1/reviews?team=search&digest=\(digest)", h.outsider, "").status == .notFound)
            // A review is of these exact bytes: the same document with another replica count is another document.
            let changed = v1.replacingOccurrences(of: "port: 8080", with: "port: 8080\n  replicas: 2")
            r = try await call(.post, "/v1/workloads", h.member, changed)
            #expect(r.status == .unprocessableContent && r.message.contains("nobody approved it"), "\(r)")
            r = try await call(.post, "/v1/workloads", h.member, v1)
            #expect(r.status == .created, "\(r)")
            let id = try #require(r.json["id"] as? String)
            try await eventually("the service runs") {
                await h.cp.tick()
                h.backend.start(id, attempt: 1)
                return await h.cp.current(id)?.state == .running
            }

            // Another version without spec.rollout: refused, saying how.
            r = try await call(.post, "/v1/workloads", h.member, Self.document("2.0.0"))
            #expect(r.status == .conflict && r.message.contains("serves ranker@1.0.0 now; to move it to ranker@2.0.0 add spec.rollout"), "\(r)")
            // With spec.rollout but not reviewed: refused by the review gate; no rollout, no second workload.
            let v2 = Self.document("2.0.0", rollout: "strategy: canary\nsteps: [\"10\", pause]")
            r = try await call(.post, "/v1/workloads", h.member, v2)
            #expect(r.status == .unprocessableContent && r.message.contains("refuses this rollout to ranker@2.0.0: review: ") && r.message.contains(DocumentReview.digest(of: v2)), "\(r)")
            #expect(await runner.list(by: admin).isEmpty, "no rollout started")
            #expect(await h.cp.list(WorkloadFilter(), by: admin).count == 1, "no workload was added")

            // Reviewed: the submit starts the rollout written in the document; its new version runs that document.
            #expect(try await review(v2, carol).status == .created)
            r = try await call(.post, "/v1/workloads", h.member, v2)
            #expect(r.status == .created, "\(r)")
            #expect(r.json["name"] as? String == "ranker-2-0-0", "\(r)")
            #expect(r.headers[.contentLocation] == "/v1/rollouts/ranker?team=search")
            #expect(((r.json["warnings"] as? [[String: Any]])?.first?["message"] as? String)?.contains("rolling out ranker@1.0.0 -> ranker@2.0.0 (canary 10%, pause until promoted)") == true, "\(r)")
            let rollouts = await runner.list(by: admin)
            #expect(rollouts.count == 1 && rollouts.first?.next.model.version == "2.0.0" && rollouts.first?.previous.workload == id, "\(rollouts)")
            let nextID = try #require(r.json["id"] as? String)
            let next = try #require(await h.cp.current(nextID))
            #expect(next.source.contains("\"rollout\"") && next.submittedBy == "alice", "the new version runs the submitted document: \(next.source)")
            let audit = try await h.store.auditRecords(AuditQuery(action: "rollout-start")).last?.detail ?? ""
            #expect(audit.contains("from a submitted document") && audit.contains("review: approved by carol (document \(DocumentReview.digest(of: v2)))"), "\(audit)")
            let reviews = try await h.store.auditRecords(AuditQuery(action: "document-review"))
            #expect(reviews.map(\.actorID) == ["alice", "carol", "carol"], "every review is audited: \(reviews.map(\.actorID))")
        }
    }
}
