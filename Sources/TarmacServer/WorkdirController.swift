import TarmacCore
import Foundation
import Hummingbird
import Metrics
import TarmacRuntime
import TarmacWorkdir

/// /v1/workdirs/{digest}: working directories, content-addressed. The CLI asks (HEAD) before it sends (PUT), so an
/// unchanged directory is never sent twice.
struct WorkdirController {
    /// Nil where the server was built without a store for them: uploads are refused, saying so.
    let workdirs: WorkdirStore?

    var store: WorkdirStore {
        get throws {
            guard let workdirs else {
                throw APIError(.unprocessableContent, code: "invalid",
                               "this server takes no working directories: build the code into spec.image and drop spec.workdir")
            }
            return workdirs
        }
    }

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.on("workdirs/:digest", method: .head, use: head)
        group.put("workdirs/:digest", use: put)
    }

    @Sendable func head(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        try Access.require(principal, .submit, "viewers cannot upload working directories")
        let digest = try context.parameters.require("digest")
        return Response(status: workdirs?.has(digest) == true ? .ok : .notFound)
    }

    @Sendable func put(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        try Access.require(principal, .submit, "viewers cannot upload working directories")
        let digest = try context.parameters.require("digest")
        guard WorkdirStore.hex(of: digest) != nil else {
            throw APIError(.badRequest, code: "badRequest", "the digest must be sha256: and 64 lowercase hex digits")
        }
        let workdirs = try store
        let body = try await request.body.collect(upTo: workdirs.limit + (1 << 20))
        let data = Data(buffer: body)
        Counter(label: "tarmac_workdir_bytes_received_total").increment(by: data.count)
        do {
            let created = try workdirs.put(digest, data)
            context.logger.info("working directory stored", metadata: ["digest": "\(digest)", "bytes": "\(data.count)", "by": "\(principal.actor)"])
            return Response(status: created ? .created : .ok)
        } catch let e as WorkdirStore.PutError {
            throw APIError(.unprocessableContent, code: "invalid", e.description)
        }
    }
}
