import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds a pod's command on its `PATH` as a shell does, and says exactly why when it cannot run it: not there (127,
/// naming the `PATH` searched and the directories the pod could not enter or was not given), or there but not
/// executable (126). The file system and `execv` are passed in, so the rules are tested without processes.
public struct CommandLookup: Sendable {
    public var command: String
    public var path: String
    /// Directories of the server's `PATH` the pod was not given, and why (named in the message).
    public var omitted: [PodToolchain.Omission]

    public init(command: String, path: String, omitted: [PodToolchain.Omission] = []) {
        self.command = command
        self.path = path
        self.omitted = omitted
    }

    /// What one candidate file is, to the pod.
    public enum Candidate: Sendable, Equatable {
        case missing
        /// A directory on the way may not be entered.
        case denied
        case notExecutable
        case executable
    }

    public struct Failure: Sendable, Equatable {
        public var message: String
        public var exitCode: Int32
    }

    /// Tries each candidate in `PATH` order; `exec` runs one (and returns only with its errno when that failed).
    public func run(check: (String) -> Candidate = CommandLookup.check, exec: (String) -> Int32) -> Failure {
        if command.contains("/") {
            switch check(command) {
            case .missing: return Failure(message: "tarmac: cannot start \(command): no such file (the path is taken from the pod's working directory when it is relative)", exitCode: 127)
            case .denied: return Failure(message: "tarmac: cannot start \(command): the pod may not enter a directory on its path", exitCode: 126)
            case .notExecutable: return notExecutable([command])
            case .executable:
                let e = exec(command)
                return afterExec(command, errno: e)
            }
        }
        var denied: [String] = []
        var notExec: [String] = []
        let dirs = path.split(separator: ":", omittingEmptySubsequences: false).map { $0.isEmpty ? "." : String($0) }
        for dir in dirs {
            let candidate = (dir.hasSuffix("/") ? dir : dir + "/") + command
            switch check(candidate) {
            case .missing: continue
            case .denied: denied.append(dir)
            case .notExecutable: notExec.append(candidate)
            case .executable:
                let e = exec(candidate)
                if e == EACCES || e == EPERM {
                    // Landlock refuses at exec, not at stat.
                    denied.append(dir)
                    continue
                }
                return afterExec(candidate, errno: e)
            }
        }
        if !notExec.isEmpty { return notExecutable(notExec) }
        var parts = ["searched PATH=\(path)"]
        if !denied.isEmpty {
            parts.append("could not enter \(denied.joined(separator: ", ")) (the pod may not use \(denied.count == 1 ? "it" : "them"); `tarmac up --pod-path DIR` exposes a directory to pods)")
        }
        if !omitted.isEmpty {
            parts.append("not on the pod's PATH: " + omitted.map { "\($0.directory) (\($0.reason))" }.joined(separator: ", "))
        }
        return Failure(message: "tarmac: command not found: \(command) (\(parts.joined(separator: "; ")))", exitCode: 127)
    }

    func notExecutable(_ files: [String]) -> Failure {
        Failure(message: "tarmac: cannot start \(command): \(files.joined(separator: ", ")) \(files.count == 1 ? "exists but is" : "exist but are") not executable (chmod +x, or run it with its interpreter, e.g. [python3, \(files[0])])", exitCode: 126)
    }

    func afterExec(_ file: String, errno e: Int32) -> Failure {
        if e == ENOENT, let interpreter = Self.interpreter(of: file) {
            return Failure(message: "tarmac: cannot start \(command): \(file) names the interpreter '\(interpreter)' in its #! line, which the pod cannot find", exitCode: 127)
        }
        return Failure(message: "tarmac: cannot start \(file): \(String(cString: strerror(e)))", exitCode: e == EACCES || e == ENOEXEC || e == EPERM ? 126 : 127)
    }

    /// The interpreter a script's `#!` line names.
    static func interpreter(of file: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: file) else { return nil }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 256)) ?? Data()
        guard head.starts(with: Array("#!".utf8)) else { return nil }
        let line = String(decoding: head.dropFirst(2).prefix { $0 != 10 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return line.isEmpty ? nil : line
    }

    /// What a candidate is on this machine, to this process.
    public static func check(_ candidate: String) -> Candidate {
        var st = stat()
        guard stat(candidate, &st) == 0 else { return errno == EACCES ? .denied : .missing }
        if (st.st_mode & S_IFMT) == S_IFDIR { return .notExecutable }
        return access(candidate, X_OK) == 0 ? .executable : .notExecutable
    }
}
