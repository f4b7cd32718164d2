import CTarmacSandbox
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Landlock rules for a pod: which paths it may read and execute, which it may write, and the rights each ABI knows.
public enum Landlock {
    public struct Access: OptionSet, Sendable, Hashable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }

        public static let execute = Access(rawValue: 1 << 0)
        public static let writeFile = Access(rawValue: 1 << 1)
        public static let readFile = Access(rawValue: 1 << 2)
        public static let readDir = Access(rawValue: 1 << 3)
        public static let removeDir = Access(rawValue: 1 << 4)
        public static let removeFile = Access(rawValue: 1 << 5)
        public static let makeChar = Access(rawValue: 1 << 6)
        public static let makeDir = Access(rawValue: 1 << 7)
        public static let makeReg = Access(rawValue: 1 << 8)
        public static let makeSock = Access(rawValue: 1 << 9)
        public static let makeFifo = Access(rawValue: 1 << 10)
        public static let makeBlock = Access(rawValue: 1 << 11)
        public static let makeSym = Access(rawValue: 1 << 12)
        public static let refer = Access(rawValue: 1 << 13)  // ABI 2
        public static let truncate = Access(rawValue: 1 << 14)  // ABI 3
        public static let ioctlDev = Access(rawValue: 1 << 15)  // ABI 5

        /// Every right the ABI knows: all of them are handled, so what no rule allows is denied.
        public static func handled(abi: Int) -> Access {
            var a = Access(rawValue: (1 << 13) - 1)
            if abi >= 2 { a.insert(.refer) }
            if abi >= 3 { a.insert(.truncate) }
            if abi >= 5 { a.insert(.ioctlDev) }
            return a
        }

        /// The rights that apply to a file that is not a directory.
        public static let fileRights: Access = [.execute, .writeFile, .readFile, .truncate, .ioctlDev]
        public static let read: Access = [.execute, .readFile, .readDir]
        public static let readWrite = Access(rawValue: UInt64.max)
    }

    /// Scopes (ABI 6): no connecting to abstract Unix sockets and no signals outside the pod's own domain.
    static let scopeAbstractUnixSocket: UInt64 = 1 << 0
    static let scopeSignal: UInt64 = 1 << 1

    public struct Rule: Sendable, Hashable {
        public var path: String
        public var access: Access
    }

    /// The paths under `roots` that may be read while every path in `hidden` stays unreadable. Landlock only allows (a
    /// rule covers everything beneath its path), so a root that holds a hidden path is not allowed as a whole: its
    /// children are, except the one on the way to the hidden path, which is split the same way, down to the hidden path
    /// itself. `children` lists a directory (nil: not a directory, or unreadable); `resolve` gives a path's real path.
    /// Pure, for tests.
    public static func readable(roots: [String], hidden: [String], children: (String) -> [String]?, resolve: (String) -> String) -> [String] {
        func inside(_ p: String, _ dir: String) -> Bool { dir == "/" ? p != "/" && p.hasPrefix("/") : p.hasPrefix(dir + "/") }
        var out: [String] = []
        var seen: Set<String> = []
        func visit(_ p: String, depth: Int) {
            let real = resolve(p)
            guard seen.insert(p).inserted, depth < 64 else { return }
            // A link into a hidden path (or to one of its ancestors) is not followed.
            if hidden.contains(where: { $0 == p || $0 == real || inside(real, $0) || inside(p, $0) }) { return }
            let under = hidden.filter { inside($0, p) || (real != p && inside($0, real)) }
            if under.isEmpty {
                out.append(p)
                return
            }
            guard real == p, let kids = children(p) else { return }
            for k in kids.sorted() { visit(p == "/" ? "/" + k : p + "/" + k, depth: depth + 1) }
        }
        for r in roots { visit(r, depth: 0) }
        return out
    }

    /// Confines the calling thread and everything it executes to `rules`, with signals and abstract sockets scoped where
    /// the ABI allows. Paths that do not exist are skipped.
    static func restrict(abi: Int, rules: [Rule]) throws {
        let handled = Access.handled(abi: abi)
        let ruleset = tarmac_landlock_create_ruleset(handled.rawValue, scopeAbstractUnixSocket | scopeSignal, Int32(abi))
        guard ruleset >= 0 else { throw PodExecError("landlock_create_ruleset", errno) }
        defer { close(ruleset) }
        for r in rules {
            let fd = tarmac_open_path(r.path, 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { continue }
            var access = Access(rawValue: r.access.rawValue & handled.rawValue)
            if (st.st_mode & S_IFMT) != S_IFDIR { access = access.intersection(.fileRights) }
            guard !access.isEmpty else { continue }
            guard tarmac_landlock_allow(ruleset, fd, access.rawValue) == 0 else { throw PodExecError("landlock_add_rule \(r.path)", errno) }
        }
        guard tarmac_no_new_privs() == 0 else { throw PodExecError("prctl(PR_SET_NO_NEW_PRIVS)", errno) }
        guard tarmac_landlock_restrict_self(ruleset) == 0 else { throw PodExecError("landlock_restrict_self", errno) }
    }
}

/// A failed step of the pod sandbox's set-up.
public struct PodExecError: Error, CustomStringConvertible {
    public var description: String
    init(_ step: String, _ code: Int32) { description = "\(step): \(String(cString: strerror(code)))" }
    init(_ message: String) { description = message }
}
