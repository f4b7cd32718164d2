import Foundation
import HTTPTypes
import Hummingbird
import TarmacCore
import TarmacWorkdir

/// The new-workload form's working directory: the browser packs the chosen folder as a tar archive and posts it here
/// (with the session's CSRF token in `X-CSRF-Token`); the server reads it with the same checks as
/// `PUT /v1/workdirs/{digest}` (regular files and directories only, paths inside, size limit), writes it again in a
/// canonical form (sorted, every parent directory, no times: the same folder uploaded twice has the same digest) and
/// stores it by content. (A browser cannot see a file's executable bit or an empty directory: `tarmac submit` can.) The answer's digest goes with the submit, as `Tarmac-Workdir` does on the API.
extension Portal {
    struct WorkdirAnswer: Encodable {
        var digest: String
        var files: Int
        var bytes: Int
    }

    struct WorkdirRefusal: Encodable {
        var error: String
    }

    func uploadWorkdir(_ request: Request, _ context: Context) async -> Response {
        if let refused = Self.crossOrigin(request) { return refused }
        guard let s = await signedIn(request) else { return Self.json(WorkdirRefusal(error: "not signed in"), status: .unauthorized) }
        if let slow = tooMany(s) { return slow }
        guard let sent = request.headers[HTTPField.Name("X-CSRF-Token")!], Self.same(sent, s.session.csrf) else {
            return Self.json(WorkdirRefusal(error: "the CSRF token is missing or wrong: reload the page"), status: .forbidden)
        }
        guard Access.allows(s.principal, .submit) else { return Self.json(WorkdirRefusal(error: "viewers cannot upload working directories"), status: .forbidden) }
        guard let store = deps.workdirs else {
            return Self.json(WorkdirRefusal(error: "this server takes no working directories: build the code into the image"), status: .unprocessableContent)
        }
        do {
            let body = try await request.body.collect(upTo: store.limit + (1 << 20))
            var entries = try TarArchive.read(Data(buffer: body), limit: store.limit)
            let have = Set(entries.map(\.path))
            var parents: Set<String> = []
            for e in entries {
                let parts = e.path.split(separator: "/")
                for i in 1..<max(1, parts.count) { parents.insert(parts[..<i].joined(separator: "/")) }
            }
            entries += parents.subtracting(have).map { TarArchive.Entry(path: $0, isDirectory: true) }
            let canonical = try TarArchive.write(entries)
            let digest = WorkdirPacker.digest(of: canonical)
            try store.put(digest, canonical)
            return Self.json(WorkdirAnswer(digest: digest, files: entries.filter { !$0.isDirectory }.count, bytes: entries.reduce(0) { $0 + $1.contents.count }))
        } catch {
            return Self.json(WorkdirRefusal(error: "\(error)"), status: .unprocessableContent)
        }
    }
}
