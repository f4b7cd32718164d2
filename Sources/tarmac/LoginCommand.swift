import ArgumentParser
import Foundation
import TarmacAPI
import TarmacModel

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Add a server and its token to the credentials file, switch the current context, or list the contexts.",
        discussion: """
        The credentials file keeps one context per server (a name, its URL and a token), as kubectl does; commands use the current one unless given --context, --server or TARMAC_SERVER. `tarmac up` adds a context for its server on its first start, named by host and port.

        Examples:
          tarmac login --server https://tarmac.acme.example --token-stdin < tok
          # the token from TARMAC_TOKEN:
          tarmac login --server http://127.0.0.1:8081 --context lab
          # switch to another context:
          tarmac login --context 127.0.0.1:8080
          tarmac login --list
        """)

    @Option(help: "Server URL of the context to add.") var server: String?
    @Option(help: "Name of the context to add or switch to (default for a new one: the server's host:port).") var context: String?
    @Option(help: "The token (visible to other users in the process list: prefer --token-stdin or TARMAC_TOKEN).") var token: String?
    @Flag(help: "Read the token from standard input.") var tokenStdin = false
    @Flag(help: "List the contexts.") var list = false

    func run() async throws {
        if list { return try printList() }
        let envToken = ProcessInfo.processInfo.environment["TARMAC_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let secret: String? = if tokenStdin {
            String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token ?? (server != nil ? envToken : nil)
        }
        var creds = Credentials.load() ?? Credentials()
        guard let secret else {
            // Switch.
            guard let context else { throw ValidationError("give --server with a token (--token-stdin or TARMAC_TOKEN) to add a context, --context NAME to switch, or --list") }
            guard creds.contexts[context] != nil else {
                let hint = Suggestions.closest(to: context, in: creds.contexts.keys).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("no context '\(context)' in \(Credentials.path)\(hint)")
            }
            creds.current = context
            try creds.save()
            print("context \(context) (\(creds.contexts[context]!.server)) is current")
            return
        }
        guard let server else { throw ValidationError("--server is required with a token") }
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        try await runClient {
            let me = try await ServerClient(base: base, token: secret).get("/v1/whoami", as: WhoAmI.self)
            let name = context ?? Credentials.name(forServer: base)
            let moved = creds.add(name, Credentials.Context(server: base, token: secret), makeCurrent: true)
            try creds.save()
            print("logged in to \(base) as \(me.name) (\(me.role)\(me.team.map { " of team \($0)" } ?? "")); context \(name) is current")
            if let moved { print("the token this context held before is kept as context \(moved)") }
        }
    }

    func printList() throws {
        guard let creds = Credentials.load(), !creds.contexts.isEmpty else {
            Terminal.writeError("no contexts yet in \(Credentials.path): `tarmac up` or `tarmac login` adds one")
            return
        }
        print(Terminal.table(["CURRENT", "NAME", "SERVER"], creds.contexts.keys.sorted().map { [$0 == creds.current ? "*" : "", $0, creds.contexts[$0]!.server] }))
    }
}
