import Foundation
import Testing
import TarmacLocal

#if canImport(Glibc)
import Glibc
#endif

/// Which programs a local pod gets (the server's PATH, and what it leads to under the home) and how a command that is
/// not there is reported: pure, on a made-up file tree.
@Suite struct PodToolchainTests {
    /// A workstation: pyenv, a venv made with pyenv's Python, ~/.local, cargo (with its credentials), keys and history.
    struct Tree {
        var dirs: Set<String> = [
            "/", "/usr", "/usr/bin", "/home", "/home/ana", "/home/ana/.pyenv", "/home/ana/.pyenv/shims", "/home/ana/.pyenv/bin",
            "/home/ana/.pyenv/versions", "/home/ana/.pyenv/versions/3.11.7", "/home/ana/.pyenv/versions/3.11.7/bin",
            "/home/ana/proj", "/home/ana/proj/.venv", "/home/ana/proj/.venv/bin", "/home/ana/proj/.venv/lib",
            "/home/ana/.local", "/home/ana/.local/bin", "/home/ana/.local/lib", "/home/ana/.local/share",
            "/home/ana/.cargo", "/home/ana/.cargo/bin", "/home/ana/.ssh", "/home/ana/.config", "/home/ana/.config/tarmac", "/opt", "/opt/tools", "/opt/tools/bin",
            "/srv", "/srv/tarmac",
        ]
        var files: Set<String> = ["/home/ana/.cargo/credentials.toml", "/home/ana/.ssh/id_rsa", "/home/ana/.bash_history",
                                  "/home/ana/.config/tarmac/credentials.json", "/usr/bin/python3.11", "/home/ana/.pyenv/shims/python3"]
        var links: [String: String] = [
            "/bin": "/usr/bin",
            "/usr/bin/python3": "/usr/bin/python3.11",
            "/home/ana/proj/.venv/bin/python": "/home/ana/.pyenv/versions/3.11.7/bin/python3.11",
            "/home/ana/proj/.venv/bin/python3": "/home/ana/.pyenv/versions/3.11.7/bin/python3.11",
        ]

        var fs: PodToolchain.FileView {
            let dirs = dirs, files = files, links = links
            func real(_ p: String) -> String {
                if let l = links[p] { return l }
                for (from, to) in links where p.hasPrefix(from + "/") { return to + p.dropFirst(from.count) }
                return p
            }
            return PodToolchain.FileView(
                realPath: real,
                isDirectory: { dirs.contains(real($0)) },
                exists: { dirs.contains(real($0)) || files.contains(real($0)) || links[$0] != nil },
                children: { d in
                    guard dirs.contains(d) else { return nil }
                    let all = dirs.union(files).union(links.keys)
                    return all.filter { ($0 as NSString).deletingLastPathComponent == d && $0 != d }.map { ($0 as NSString).lastPathComponent }
                },
                linkTarget: { links[$0].map { real($0) } })
        }
    }

    let secrets = ["/home/ana/.config/tarmac/credentials.json", "/srv/tarmac"]
    let path = "/home/ana/proj/.venv/bin:/home/ana/.pyenv/shims:/home/ana/.pyenv/bin:/home/ana/.local/bin:/home/ana/.cargo/bin:/usr/bin:/bin:bin:/home/ana"

    func discover(_ path: String, env: [String: String] = [:], add: [String] = [], remove: [String] = [], tree: Tree = Tree()) throws -> PodToolchain {
        try PodToolchain.discover(serverPath: path, environment: env, home: "/home/ana", hidden: secrets, add: add, remove: remove, fs: tree.fs)
    }

    @Test func theProgramsUnderTheHomeAreExposedAndNothingElseOfIt() throws {
        let t = try discover(path, env: ["VIRTUAL_ENV": "/home/ana/proj/.venv", "PYENV_ROOT": "/home/ana/.pyenv", "AWS_SECRET_ACCESS_KEY": "x"])
        #expect(t.exposed == ["/home/ana/.cargo", "/home/ana/.local/bin", "/home/ana/.local/lib", "/home/ana/.pyenv", "/home/ana/proj/.venv"], "\(t.exposed)")
        // A tool's own credentials stay hidden inside its exposed tree.
        #expect(t.withheld == ["/home/ana/.cargo/credentials.toml"])
        for private_ in ["/home/ana", "/home/ana/.ssh/id_rsa", "/home/ana/.bash_history", "/home/ana/.config/tarmac/credentials.json", "/home/ana/.local/share", "/srv/tarmac"] {
            for e in t.exposed { #expect(!(private_ == e || private_.hasPrefix(e + "/")), "\(e) exposes \(private_)") }
        }
        // The pod's PATH keeps the server's order, without a relative entry, the home itself, or a second name for /usr/bin.
        #expect(t.path == ["/home/ana/proj/.venv/bin", "/home/ana/.pyenv/shims", "/home/ana/.pyenv/bin", "/home/ana/.local/bin", "/home/ana/.cargo/bin", "/usr/bin"])
        #expect(t.omitted.map(\.directory) == ["bin", "/home/ana"])
        #expect(t.environment == ["VIRTUAL_ENV": "/home/ana/proj/.venv", "PYENV_ROOT": "/home/ana/.pyenv", "PYTHONUSERBASE": "/home/ana/.local"])
    }

    @Test func aVenvBringsTheInterpreterItWasMadeWith() throws {
        let t = try discover("/home/ana/proj/.venv/bin:/usr/bin")
        #expect(t.exposed == ["/home/ana/.local/lib", "/home/ana/.pyenv/versions/3.11.7", "/home/ana/proj/.venv"], "\(t.exposed)")
        #expect(t.path == ["/home/ana/proj/.venv/bin", "/usr/bin"])
    }

    @Test func podPathAddsAndNarrows() throws {
        let t = try discover(path, add: ["/opt/tools/bin"], remove: ["/home/ana/.cargo", "/home/ana/.local"])
        #expect(!t.exposed.contains { $0.hasPrefix("/home/ana/.cargo") || $0.hasPrefix("/home/ana/.local") }, "\(t.exposed)")
        #expect(t.path.last == "/opt/tools/bin" && !t.path.contains("/home/ana/.cargo/bin"))
        #expect(t.omitted.contains(PodToolchain.Omission(directory: "/home/ana/.cargo/bin", reason: "left out with --pod-path -DIR")))
        #expect(t.environment["PYTHONUSERBASE"] == nil)
        // Nothing that would hand the home, or a secret, to pods.
        #expect(throws: IsolationError.self) { try discover(path, add: ["/home/ana"]) }
        #expect(throws: IsolationError.self) { try discover(path, add: ["/"]) }
        #expect(throws: IsolationError.self) { try discover(path, add: ["/srv/tarmac/pods"]) }
    }

    @Test func aSecretInsideAnExposedTreeStaysHidden() throws {
        let t = try PodToolchain.discover(serverPath: "/home/ana/proj/.venv/bin", environment: [:], home: "/home/ana",
                                          hidden: ["/home/ana/proj/.venv/lib"], fs: Tree().fs)
        #expect(t.exposed.contains("/home/ana/proj/.venv") && t.withheld.contains("/home/ana/proj/.venv/lib"))
    }

    // MARK: a command that is not there

    @Test func aMissingCommandNamesThePathAndWhatWasNotSearched() {
        var tried: [String] = []
        let lookup = CommandLookup(command: "definitely-not-here-99", path: "/usr/local/bin:/home/ana/.cargo/bin:/usr/bin",
                                   omitted: [.init(directory: "/home/ana/tools", reason: "left out with --pod-path -DIR")])
        let f = lookup.run(check: { $0.hasPrefix("/home/ana/.cargo/bin/") ? .denied : .missing }, exec: { tried.append($0); return ENOENT })
        #expect(tried.isEmpty && f.exitCode == 127)
        #expect(f.message == "tarmac: command not found: definitely-not-here-99 (searched PATH=/usr/local/bin:/home/ana/.cargo/bin:/usr/bin; could not enter /home/ana/.cargo/bin (the pod may not use it; `tarmac up --pod-path DIR` exposes a directory to pods); not on the pod's PATH: /home/ana/tools (left out with --pod-path -DIR))", "\(f.message)")
    }

    @Test func aDirectoryRefusedAtExecIsPassedOver() {
        var tried: [String] = []
        // Landlock refuses at exec, not at stat: the next directory is tried, as a shell does.
        let f = CommandLookup(command: "python3", path: "/a:/b").run(check: { _ in .executable }, exec: { tried.append($0); return $0 == "/a/python3" ? EACCES : ENOMEM })
        #expect(tried == ["/a/python3", "/b/python3"])
        #expect(f.exitCode == 127 && f.message.contains("/b/python3"))
    }

    @Test func aFileThatIsNotExecutableSaysSo() {
        let f = CommandLookup(command: "train.sh", path: "/a:/b").run(check: { $0 == "/b/train.sh" ? .notExecutable : .missing }, exec: { _ in 0 })
        #expect(f.exitCode == 126 && f.message.contains("/b/train.sh exists but is not executable"), "\(f.message)")
        let g = CommandLookup(command: "./missing.py", path: "/a").run(check: { _ in .missing }, exec: { _ in 0 })
        #expect(g.exitCode == 127 && g.message.contains("no such file"))
    }
}
