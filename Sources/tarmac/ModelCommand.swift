import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TarmacAPI
import TarmacDelivery

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The model registry: register versions, list and read them, move aliases.",
        discussion: """
        A version is a semantic version of a team's model with a manifest of every file's SHA-256 and size. Its files are kept by Tarmac under the data directory, each once by its digest (a new version sends only the files that changed), or stay where they are (--uri s3://, gs://, hf://, oci://). A signature is over the manifest's exact bytes: print them with `tarmac model manifest DIR`, sign them, and give the signature to register.

        Examples:
          tarmac model manifest ./ranker-7 > manifest.json
          openssl dgst -sha256 -sign release.key -out manifest.sig manifest.json
          tarmac model register ranker --version 1.7.0 --path ./ranker-7 \\
            --signature manifest.sig --owner bob@acme.example --from-job ranker-ft
          tarmac model register ranker --version 1.8.0 \\
            --uri s3://models/ranker/1.8.0 --manifest manifest.json
          tarmac model list
          tarmac model get ranker
          tarmac model get ranker@champion -o json
          tarmac model alias ranker@champion 1.7.0
          tarmac model approve ranker@1.7.0 --comment "eval run 412 matches"
          tarmac model promote ranker@1.7.0 --env prod --dry-run
          tarmac model promote ranker@1.7.0 --env prod
        """,
        subcommands: [Manifest.self, Register.self, List.self, Get.self, Alias.self, Approve.self, Promote.self])

    struct Manifest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a directory's manifest (the bytes a signature covers) without sending anything.")
        @Argument(help: "The model's directory.") var path: String

        func run() async throws {
            let m = try Self.manifest(of: path)
            FileHandle.standardOutput.write(m.canonical)
        }

        static func manifest(of path: String) throws -> ModelManifest {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("\(path) is not a directory")
            }
            do { return try ModelManifest.of(directory: path) } catch let p as ManifestProblem { throw ValidationError(p.description) }
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a version: send its files (those the server lacks) and record it.",
            discussion: "Exit status 1 when the server refuses it (every problem is named); registering the same files again is not an error.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The model's name.") var name: String
        @Option(help: "Its semantic version, e.g. 1.4.0 or 2.0.0-rc.1.") var version: String
        @Option(help: "The directory of its files (sent to the server, or only hashed with --uri).") var path: String?
        @Option(help: "Where the files are kept instead (s3://, gs://, hf://, oci://).") var uri: String?
        @Option(help: "With --uri and no --path: the manifest file (as `tarmac model manifest` writes it).") var manifest: String?
        @Option(help: "A signature over the manifest: DER (openssl dgst -sha256 -sign) or its base64 (cosign sign-blob).") var signature: String?
        @Option(help: "The team it belongs to (default: your token's).") var team: String?
        @Option(help: "File format, e.g. safetensors, gguf, onnx.") var format: String?
        @Option(help: "Framework, e.g. pytorch, vllm.") var framework: String?
        @Option(help: "The TrainingJob (name or id) that produced it.") var fromJob: String?
        @Option(help: "With --from-job: its attempt (default: the latest).") var attempt: Int?
        @Option(help: "With --from-job: the checkpoint it was taken from.") var checkpoint: String?
        @Option(help: "Who answers for it.") var owner: String?
        @Option(name: .customLong("label"), help: ArgumentHelp("A label KEY=VALUE (repeatable).", valueName: "KEY=VALUE")) var labels: [String] = []

        func validate() throws {
            if path == nil && manifest == nil { throw ValidationError("give the model's files: --path DIR (or --uri URI with --manifest FILE)") }
            if manifest != nil && uri == nil { throw ValidationError("--manifest goes with --uri (with --path the manifest is made from the directory)") }
            if manifest != nil && path != nil { throw ValidationError("give --path or --manifest, not both") }
            for l in labels where !l.contains("=") { throw ValidationError("--label \(l): write KEY=VALUE") }
        }

        func run() async throws {
            try await runClient {
                let m: ModelManifest
                if let path {
                    m = try Manifest.manifest(of: path)
                } else {
                    guard let data = FileManager.default.contents(atPath: manifest!) else { throw ValidationError("cannot read \(manifest!)") }
                    do { m = try ModelManifest.read(canonical: data) } catch let p as ManifestProblem { throw ValidationError("\(manifest!): \(p.description)") }
                }
                let c = try client.client()
                if uri == nil, let path { try await Self.send(m, from: path, team: team, c) }
                var labelMap: [String: String] = [:]
                for l in labels {
                    let kv = l.split(separator: "=", maxSplits: 1)
                    labelMap[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
                }
                let body = ModelRegistration(team: team, version: version, files: m.files.map { ModelFileView(path: $0.path, sha256: $0.sha256, size: $0.size) },
                                             uri: uri, signature: try signature.map(Self.readSignature), format: format, framework: framework,
                                             fromJob: fromJob, attempt: attempt, checkpoint: checkpoint, owner: owner, labels: labelMap.isEmpty ? nil : labelMap)
                let (status, data) = try await c.call(.POST, "/v1/models/\(ServerClient.path(name))/versions", body: try APIJSON.encoder.encode(body),
                                                      contentType: "application/json")
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let v = try ServerClient.decode(ModelVersionView.self, data)
                print("\(v.team)/\(v.model)@\(v.version) \(status == 201 ? "registered" : "was registered already, with these files") "
                      + "(\(v.files) files, \(ModelCommand.size(v.bytes)), \(v.digest)\(v.signed ? ", signed" : ""))")
            }
        }

        /// A signature file as DER (what openssl writes) or base64 text (what cosign writes).
        static func readSignature(_ file: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read the signature \(file)") }
            let text = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
            if data.first != 0x30, let decoded = Data(base64Encoded: text), !decoded.isEmpty { return text }
            return data.base64EncodedString()
        }

        /// Sends the files the server does not have, one at a time, streamed from disk.
        static func send(_ m: ModelManifest, from root: String, team: String?, _ c: ServerClient) async throws {
            let asked = MissingBlobs(digests: m.files.map { "sha256:" + $0.sha256 })
            let q = team.map { "?team=\(ServerClient.query($0))" } ?? ""
            let data = try await c.call(.POST, "/v1/blobs/missing" + q, body: try APIJSON.encoder.encode(asked), contentType: "application/json").body
            let missing = Set(try ServerClient.decode(MissingBlobs.self, data).digests)
            var seen: Set<String> = []
            let todo = m.files.filter { missing.contains("sha256:" + $0.sha256) && seen.insert($0.sha256).inserted }
            let total = todo.reduce(Int64(0)) { $0 + $1.size }
            if todo.isEmpty {
                Terminal.writeError("all \(m.files.count) files are on the server already")
                return
            }
            Terminal.writeError("sending \(todo.count) of \(m.files.count) files (\(ModelCommand.size(total))); the rest are on the server already")
            var sent: Int64 = 0
            for (i, f) in todo.enumerated() {
                Terminal.writeError("  [\(i + 1)/\(todo.count)] \(f.path) (\(ModelCommand.size(f.size)))")
                try await upload(root + "/" + f.path, digest: "sha256:" + f.sha256, size: f.size, query: q, c)
                sent += f.size
            }
            Terminal.writeError("sent \(ModelCommand.size(sent))")
        }

        static func upload(_ file: String, digest: String, size: Int64, query: String, _ c: ServerClient) async throws {
            try await Reachability.check(c.base)
            var req = HTTPClientRequest(url: c.base + "/v1/blobs/" + digest + query)
            req.method = .PUT
            if let token = c.token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
            req.headers.add(name: "Content-Type", value: "application/octet-stream")
            req.body = .stream(FileChunks(path: file), length: .known(size))
            let resp: HTTPClientResponse
            do { resp = try await HTTPClient.shared.execute(req, timeout: .hours(6)) } catch {
                throw APIFailure(status: 0, code: "unreachable", message: "sending \(file): \(Reachability.reason(error))", diagnostics: [])
            }
            let body = Data(buffer: try await resp.body.collect(upTo: 1 << 20))
            try ServerClient.check(resp.status.code, body)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the models you may see, with their latest version and aliases.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only this team's.") var team: String?

        func run() async throws {
            try await runClient {
                let data = try await client.client().call(.GET, "/v1/models" + (team.map { "?team=\(ServerClient.query($0))" } ?? "")).body
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let items = try ServerClient.decode(ModelList.self, data).items
                if items.isEmpty { return print("no models yet (tarmac model register NAME --version 1.0.0 --path DIR)") }
                print(Terminal.table(["TEAM", "MODEL", "VERSIONS", "LATEST", "ALIASES"], items.map {
                    [$0.team, $0.name, String($0.versions), $0.latest, $0.aliases.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ").ifEmpty("-")]
                }))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a model's versions, or one version (NAME@VERSION or NAME@ALIAS) with its files.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "NAME, NAME@VERSION or NAME@ALIAS.") var reference: String
        @Option(help: "The team whose model it is (when several teams have one by that name).") var team: String?

        func run() async throws {
            try await runClient {
                let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
                let q = team.map { "?team=\(ServerClient.query($0))" } ?? ""
                let c = try client.client()
                if parts.count == 2 {
                    let data = try await c.call(.GET, "/v1/models/\(ServerClient.path(parts[0]))/versions/\(ServerClient.path(parts[1]))\(q)").body
                    guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                    let v = try ServerClient.decode(ModelVersionView.self, data)
                    var rows: [[String]] = [
                        ["model", "\(v.team)/\(v.model)@\(v.version)"], ["digest", v.digest], ["artifact", v.artifact],
                        ["files", "\(v.files) (\(ModelCommand.size(v.bytes)))"], ["signed", v.signed ? "yes" : "no"],
                        ["owner", v.owner ?? "-"], ["format", [v.format, v.framework].compactMap { $0 }.joined(separator: ", ").ifEmpty("-")],
                        ["aliases", v.aliases.joined(separator: ", ").ifEmpty("-")],
                        ["registered", "\(ISO8601DateFormatter().string(from: v.registeredAt)) by \(v.registeredBy)"],
                    ]
                    let approvals = (v.approvals ?? []).map { "\($0.by)\($0.by == v.registeredBy ? " (its author)" : "")" }
                    rows.append(["approved", approvals.joined(separator: ", ").ifEmpty("-")])
                    if let l = v.lineage { rows.append(["lineage", "\(l.workload) attempt \(l.attempt ?? 1)\(l.checkpoint.map { ", checkpoint \($0)" } ?? "")"]) }
                    if !v.labels.isEmpty { rows.append(["labels", v.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]) }
                    print(rows.map { $0[0].padding(toLength: 11, withPad: " ", startingAt: 0) + $0[1] }.joined(separator: "\n"))
                    print("")
                    print(Terminal.table(["FILE", "SIZE", "SHA256"], (v.manifest ?? []).map { [$0.path, ModelCommand.size($0.size), $0.sha256] }))
                } else {
                    let data = try await c.call(.GET, "/v1/models/\(ServerClient.path(parts[0]))\(q)").body
                    guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                    let m = try ServerClient.decode(ModelView.self, data)
                    let f = ISO8601DateFormatter()
                    print(Terminal.table(["VERSION", "FILES", "SIZE", "SIGNED", "ALIASES", "OWNER", "REGISTERED", "BY"], m.versions.map {
                        [$0.version, String($0.files), ModelCommand.size($0.bytes), $0.signed ? "yes" : "no", $0.aliases.joined(separator: ",").ifEmpty("-"),
                         $0.owner ?? "-", f.string(from: $0.registeredAt), $0.registeredBy]
                    }))
                }
            }
        }
    }

    struct Alias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point an alias (NAME@ALIAS) at a version; the move is audited.",
            discussion: "With --expect the alias moves only if it points at that version now (exit status 1 otherwise): two people cannot both move it.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "NAME@ALIAS, e.g. ranker@champion.") var alias: String
        @Argument(help: "The version it points at from now on (or another alias).") var version: String
        @Option(help: "The team whose model it is.") var team: String?
        @Option(help: "Move it only if it points at this version now.") var expect: String?

        func run() async throws {
            let parts = alias.split(separator: "@", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("write the alias as NAME@ALIAS, e.g. ranker@champion") }
            try await runClient {
                let body = AliasMove(team: team, version: version, expected: expect)
                let data = try await client.client().call(.PUT, "/v1/models/\(ServerClient.path(parts[0]))/aliases/\(ServerClient.path(parts[1]))",
                                                          body: try APIJSON.encoder.encode(body), contentType: "application/json").body
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let a = try ServerClient.decode(ModelAliasView.self, data)
                print("\(parts[0])@\(a.name) -> \(a.version)")
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a version's manifest (the review a promotion contract may ask for; its author's own approval does not count).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "NAME@VERSION (or NAME@ALIAS).") var reference: String
        @Option(help: "The team whose model it is.") var team: String?
        @Option(help: "Why it is right to serve (kept in the audit trail).") var comment: String?

        func run() async throws {
            let parts = try ModelCommand.split(reference)
            try await runClient {
                let body = ApprovalRequest(team: team, comment: comment)
                let (status, data) = try await client.client().call(.POST, "/v1/models/\(ServerClient.path(parts.0))/versions/\(ServerClient.path(parts.1))/approve",
                                                                    body: try APIJSON.encoder.encode(body), contentType: "application/json")
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let a = try ServerClient.decode(ApprovalView.self, data)
                print("\(reference) \(status == 201 ? "approved" : "was approved already") by \(a.by) (\(a.digest))")
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move an environment's alias to a version through its promotion contract: every gate is shown, pass or why not.",
            discussion: "Exit status 1 when a gate refuses (nothing changes); --dry-run checks the gates and changes nothing either way.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "NAME@VERSION (or NAME@ALIAS).") var reference: String
        @Option(help: "The environment to promote to (its alias moves: the environment's name unless its contract names another).") var env: String
        @Option(help: "The team whose model it is.") var team: String?
        @Flag(help: "Check every gate; change nothing.") var dryRun = false

        func run() async throws {
            let parts = try ModelCommand.split(reference)
            try await runClient {
                let body = PromotionRequestBody(team: team, version: parts.1, env: env, dryRun: dryRun ? true : nil)
                let data = try await client.client().call(.POST, "/v1/models/\(ServerClient.path(parts.0))/promote", body: try APIJSON.encoder.encode(body),
                                                          contentType: "application/json").body
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let v = try ServerClient.decode(PromotionView.self, data)
                if !v.gates.isEmpty {
                    print(Terminal.table(["GATE", "RESULT", "DETAIL"], v.gates.map { [$0.gate, $0.passed ? "pass" : "FAIL", $0.message] }))
                } else {
                    print("\(v.env) has no promotion contract: no gates")
                }
                let was = v.previous.map { " (was \($0))" } ?? ""
                print(v.dryRun ? "would move \(v.team)/\(v.model)@\(v.alias) to \(v.version)\(was); nothing changed (--dry-run)"
                               : "\(v.team)/\(v.model)@\(v.alias) -> \(v.version)\(was)")
            }
        }
    }

    static func split(_ reference: String) throws -> (String, String) {
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("write NAME@VERSION, e.g. ranker@1.4.0") }
        return (parts[0], parts[1])
    }

    static func size(_ n: Int64) -> String {
        if n >= 1 << 30 { return String(format: "%.1f GiB", Double(n) / Double(1 << 30)) }
        if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return "\(n) B"
    }
}

/// A file read in 1 MiB chunks, as an upload's body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        mutating func next() async throws -> ByteBuffer? {
            guard let handle else { throw CocoaError(.fileReadNoPermission) }
            guard let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty else {
                try? handle.close()
                return nil
            }
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
