import Foundation

/// The programs a pod may run: the server's `PATH` and the interpreters it leads to, with what lies under the server's
/// home exposed read-only and nothing else of that home.
///
/// Data scientists install Python under their home (pyenv, conda, uv, venvs, `~/.local`); the sandbox hides the home
/// (credentials, keys, shell history), so the trees those programs live in are exposed one by one: in uid mode bound
/// read-only into an otherwise empty home, under Landlock as read+execute rules. Pure: the file system is read through
/// `FileView`, so the rules are tested on a made-up tree.
public struct PodToolchain: Codable, Sendable, Hashable {
    /// Trees under the home (or another hidden place) that pods may read and execute, read-only, outermost first.
    public var exposed: [String]
    /// Files and directories inside exposed trees that stay hidden (credentials a tool keeps beside its programs).
    public var withheld: [String]
    /// The pod's `PATH`, in the server's order: only directories a pod can use.
    public var path: [String]
    /// Directories of the server's `PATH` (or given with `--pod-path`) that pods do not get, and why.
    public var omitted: [Omission]
    /// Variables pods get so the exposed interpreters behave as in the server's shell (`VIRTUAL_ENV`, `CONDA_PREFIX`,
    /// `PYENV_ROOT`, `PYENV_VERSION`, `PYTHONUSERBASE` for `~/.local`).
    public var environment: [String: String]

    public struct Omission: Codable, Sendable, Hashable {
        public var directory: String
        public var reason: String
        public init(directory: String, reason: String) {
            self.directory = directory
            self.reason = reason
        }
    }

    public init(exposed: [String] = [], withheld: [String] = [], path: [String], omitted: [Omission] = [], environment: [String: String] = [:]) {
        self.exposed = exposed
        self.withheld = withheld
        self.path = path
        self.omitted = omitted
        self.environment = environment
    }

    /// How the discovery reads the file system.
    public struct FileView {
        /// The path with symbolic links resolved (the path itself when it does not exist).
        public var realPath: (String) -> String
        /// Whether a directory exists there.
        public var isDirectory: (String) -> Bool
        /// Whether anything exists there.
        public var exists: (String) -> Bool
        /// The names in a directory (nil when it cannot be read).
        public var children: (String) -> [String]?
        /// Where a symbolic link points, resolved (nil: not a link).
        public var linkTarget: (String) -> String?

        public init(realPath: @escaping (String) -> String, isDirectory: @escaping (String) -> Bool, exists: @escaping (String) -> Bool,
                    children: @escaping (String) -> [String]?, linkTarget: @escaping (String) -> String?) {
            self.realPath = realPath
            self.isDirectory = isDirectory
            self.exists = exists
            self.children = children
            self.linkTarget = linkTarget
        }

        /// This machine's file system.
        public static var live: FileView {
            let fm = FileManager.default
            return FileView(
                realPath: SandboxPolicy.realPath,
                isDirectory: { var d: ObjCBool = false; return fm.fileExists(atPath: $0, isDirectory: &d) && d.boolValue },
                exists: { fm.fileExists(atPath: $0) },
                children: { try? fm.contentsOfDirectory(atPath: $0) },
                linkTarget: { p in (try? fm.destinationOfSymbolicLink(atPath: p)).map { _ in SandboxPolicy.realPath(p) } })
        }
    }

    /// Names that are never exposed, even inside an exposed tree: credentials tools keep beside their programs
    /// (`~/.cargo/credentials.toml`, a venv's `.env`, ...).
    public static let secretNames = ["credentials", "credentials.toml", ".credentials.toml", ".netrc", ".git-credentials", ".pypirc",
                                     ".env", "auth.json", ".ssh", ".aws", ".docker", ".kube", ".gnupg"]
    /// Directory names whose parent is the installation prefix of what they hold (a venv, conda, pyenv, cargo).
    static let programDirectories: Set<String> = ["bin", "sbin", "shims", "Scripts"]
    /// How many entries of one `PATH` directory are looked at for links into the home.
    static let linkScanLimit = 4000

    /// Works out what pods get from the server's `PATH` and environment.
    /// - `home`: the server's home (hidden from pods); `hidden`: other places pods must not read (the data directory,
    ///   the credentials and anchor files), never exposed even when they lie inside an exposed tree.
    /// - `add`: directories given with `--pod-path DIR` (exposed and put at the end of the pod's `PATH`);
    ///   `remove`: `--pod-path -DIR` (nothing at or under DIR is exposed or searched).
    public static func discover(serverPath: String, environment: [String: String], home: String?, hidden: [String],
                                add: [String] = [], remove: [String] = [], fs: FileView) throws -> PodToolchain {
        let home = home.map(fs.realPath).flatMap { $0 == "/" || $0.isEmpty ? nil : $0 }
        let hidden = hidden.map(fs.realPath)
        let removed = remove.map(fs.realPath)
        let private_: [String] = (home.map { [$0] } ?? []) + hidden
        func isPrivate(_ p: String) -> Bool { private_.contains { p == $0 || p.isInside($0) } }
        func isRemoved(_ p: String) -> Bool { removed.contains { p == $0 || p.isInside($0) } }

        var out = PodToolchain(path: [])
        var roots: [String] = []
        func expose(_ root: String) {
            guard !roots.contains(where: { root == $0 || root.isInside($0) }) else { return }
            roots.removeAll { $0.isInside(root) }
            roots.append(root)
        }
        /// The tree a program directory belongs to: its installation prefix (`~/.venv` for `~/.venv/bin`), but never the
        /// home itself, a hidden place, or all of `~/.local` (whose `share` holds keyrings and histories).
        func treeOf(_ dir: String) -> [String] {
            let parent = (dir as NSString).deletingLastPathComponent
            let name = (dir as NSString).lastPathComponent
            guard programDirectories.contains(name), parent != "/", parent != home, !hidden.contains(parent) else { return [dir] }
            if let home, parent == home + "/.local" {
                return [dir, parent + "/lib"].filter { $0 == dir || fs.isDirectory($0) }
            }
            return [parent]
        }
        func check(_ dir: String, given: String) throws {
            if let home, dir == home || home.isInside(dir) {
                throw IsolationError("\(given) would expose the server's home (\(home)) to pods; name the directory that holds the programs instead")
            }
            if let h = hidden.first(where: { $0 == dir || dir.isInside($0) }) {
                throw IsolationError("\(given) lies in \(h), which pods must never read")
            }
        }

        var seen: Set<String> = []
        var programDirs: [String] = []
        func consider(_ entry: String, added: Bool) throws {
            guard !entry.isEmpty else { return }
            guard entry.hasPrefix("/") else {
                out.omitted.append(Omission(directory: entry, reason: "a relative directory (it would be looked up in the pod's working directory)"))
                return
            }
            let real = fs.realPath(entry)
            if added { try check(real, given: "--pod-path \(entry)") }
            guard seen.insert(real).inserted else { return }
            if isRemoved(real) {
                out.omitted.append(Omission(directory: entry, reason: "left out with --pod-path -DIR"))
                return
            }
            if isPrivate(real) {
                if let home, real == home || hidden.contains(where: { real == $0 || real.isInside($0) }) {
                    out.omitted.append(Omission(directory: entry, reason: real == home ? "the server's home itself" : "inside a place pods must never read"))
                    return
                }
                for t in treeOf(real) where !isRemoved(t) { expose(t) }
            } else if added {
                expose(real)
            }
            out.path.append(entry)
            programDirs.append(real)
        }
        for entry in serverPath.split(separator: ":", omittingEmptySubsequences: true).map(String.init) { try consider(entry, added: false) }
        for entry in add { try consider(entry, added: true) }

        // The interpreters those directories lead to: a venv's `python` is a link to the Python it was made with
        // (pyenv's, say), which must be there too.
        for dir in programDirs {
            guard let names = fs.children(dir) else { continue }
            for name in names.sorted().prefix(linkScanLimit) {
                guard let target = fs.linkTarget(dir + "/" + name), isPrivate(target), !isRemoved(target),
                      !hidden.contains(where: { target == $0 || target.isInside($0) }) else { continue }
                for t in treeOf((target as NSString).deletingLastPathComponent) where !isRemoved(t) { expose(t) }
            }
        }

        // Prefixes named by the environment: an activated venv or conda environment, pyenv's root and version, the user
        // site-packages of `~/.local`.
        for key in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            guard let v = environment[key], v.hasPrefix("/") else { continue }
            let real = fs.realPath(v)
            guard fs.isDirectory(real), !isRemoved(real), (try? check(real, given: key)) != nil else { continue }
            if isPrivate(real) { expose(real) }
            out.environment[key] = v
        }
        for key in ["CONDA_DEFAULT_ENV", "PYENV_VERSION"] { if let v = environment[key] { out.environment[key] = v } }
        if let v = environment["PYENV_ROOT"], v.hasPrefix("/"), roots.contains(where: { fs.realPath(v) == $0 || fs.realPath(v).isInside($0) }) {
            out.environment["PYENV_ROOT"] = v
        }
        if let home, environment["PYTHONUSERBASE"] == nil, !isRemoved(home + "/.local/lib"), fs.isDirectory(home + "/.local/lib") {
            expose(home + "/.local/lib")
            out.environment["PYTHONUSERBASE"] = home + "/.local"
        }

        out.exposed = roots.sorted()
        // What tools keep beside their programs stays hidden, and so does every hidden place inside an exposed tree.
        for r in out.exposed {
            for name in secretNames where fs.exists(r + "/" + name) { out.withheld.append(r + "/" + name) }
            for h in hidden where h.isInside(r) && fs.exists(h) { out.withheld.append(h) }
        }
        return out
    }

    /// What the banner says pods see of the home and of the server's `PATH`.
    public func summary(home: String?) -> String {
        var parts: [String] = []
        if exposed.isEmpty {
            parts.append("programs: the server's PATH (nothing under \(home ?? "the home") exposed)")
        } else {
            parts.append("programs: the server's PATH, with \(exposed.joined(separator: ", ")) exposed read-only")
        }
        if !omitted.isEmpty { parts.append("not on the pods' PATH: " + omitted.map { "\($0.directory) (\($0.reason))" }.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}

extension String {
    /// Whether this absolute path lies strictly inside `dir`.
    func isInside(_ dir: String) -> Bool { dir == "/" ? self != "/" && hasPrefix("/") : hasPrefix(dir + "/") }
}
