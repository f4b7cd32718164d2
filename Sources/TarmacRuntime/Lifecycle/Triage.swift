import TarmacModel

import TarmacCore

/// A failure cause the user can act on (DESIGN §5), with the message that says what to do.
public struct Triage: Sendable, Hashable {
    public var cause: String
    public var message: String
    /// Whether trying again could help (a lost supervisor: yes; out of memory at the same size: no).
    public var retryable: Bool

    /// Pure: the same exit always gets the same triage.
    public static func of(_ exit: PodExit) -> Triage {
        let mib: (Int64?) -> String = { $0.map { ByteQuantity(bytes: $0).readable } ?? "?" }
        let tail = exit.lastLines.suffix(3).joined(separator: " | ")
        switch exit.reason {
        case .outOfMemory:
            let limit = exit.memoryLimitBytes.map { ByteQuantity(bytes: $0).description } ?? "?"
            guard let peak = exit.peakMemoryBytes else {
                return Triage(cause: "OutOfMemory",
                              message: "pod \(exit.pod) was OOM-killed: it went over its size's memory limit of \(limit). Use a larger size or lower the memory use.",
                              retryable: false)
            }
            return Triage(cause: "OutOfMemory",
                          message: "pod \(exit.pod) used \(mib(peak)) of host memory, over its size's limit of \(limit); it was killed. Use a larger size or lower the memory use.",
                          retryable: false)
        case .deadline:
            return Triage(cause: "DeadlineExceeded",
                          message: "pod \(exit.pod) ran past its maxDuration and was stopped; raise spec.maxDuration (up to what the environment allows) or checkpoint and resume",
                          retryable: false)
        case .lost:
            return Triage(cause: "LostOnRestart", message: "pod \(exit.pod) was lost while the control plane was down (its supervisor is gone and left no exit status)", retryable: true)
        case .clusterLost:
            return Triage(cause: "ClusterLost", message: "pod \(exit.pod)'s cluster was lost: \(exit.detail ?? "its API server could not be reached"); placed again on a cluster that answers", retryable: true)
        case .launchFailed:
            return Triage(cause: "LaunchFailed", message: "pod \(exit.pod) could not be started: \(exit.detail ?? "unknown error")", retryable: false)
        case .stopped:
            return Triage(cause: "Stopped", message: "pod \(exit.pod) was stopped", retryable: false)
        case .imagePull:
            return Triage(cause: "ImagePullFailed",
                          message: "pod \(exit.pod) could not pull its image (\(exit.detail ?? "no detail")); check the image name and tag, and that the registry is reachable and allowed",
                          retryable: false)
        case .containerConfig:
            return Triage(cause: "CreateContainerConfigError",
                          message: "pod \(exit.pod)'s container could not be configured (\(exit.detail ?? "no detail")); a Secret or ConfigMap it names is probably missing",
                          retryable: false)
        case .unschedulable:
            return Triage(cause: "Unschedulable",
                          message: "pod \(exit.pod) could not be scheduled on the nodes Tarmac chose: \(exit.detail ?? "no detail from the scheduler")",
                          retryable: true)
        case .evicted:
            return Triage(cause: "Evicted", message: "pod \(exit.pod) was evicted: \(exit.detail ?? "no detail")", retryable: true)
        case .modelTampered:
            let said = exit.detail ?? exit.lastLines.last { $0.hasPrefix("tarmac: model ") }.map { String($0.dropFirst("tarmac: ".count)) } ?? "its files differ from the registered manifest"
            return Triage(cause: "ModelTampered",
                          message: "pod \(exit.pod) was not started: \(said). Nothing was served; register the files as a new version (tarmac model register) or restore them",
                          retryable: false)
        case .exited:
            let text = exit.lastLines.joined(separator: "\n")
            if text.contains("CUDA out of memory") || text.contains("OutOfMemoryError: CUDA") {
                return Triage(cause: "GPUOutOfMemory", message: "pod \(exit.pod) ran out of GPU memory (\(tail)); use a size with more GPU memory or a smaller batch", retryable: false)
            }
            if text.contains("MemoryError") || text.contains("std::bad_alloc") || text.contains("Cannot allocate memory") {
                return Triage(cause: "OutOfMemory", message: "pod \(exit.pod) could not allocate memory (\(tail)); use a larger size", retryable: false)
            }
            if let s = exit.signal {
                return Triage(cause: "ApplicationError", message: "pod \(exit.pod) was killed by signal \(s)\(tail.isEmpty ? "" : "; last lines: \(tail)")", retryable: true)
            }
            let code = exit.exitCode ?? -1
            if code == 127 || code == 126 {
                // The local backend says exactly what went wrong, in one line (`tarmac: command not found: ...`).
                let said = exit.lastLines.last { $0.hasPrefix("tarmac: ") }.map { String($0.dropFirst("tarmac: ".count)) }
                if let said, code == 126, said.contains("not executable") {
                    return Triage(cause: "CommandNotExecutable", message: "pod \(exit.pod) exited with 126: \(said)", retryable: false)
                }
                if let said {
                    return Triage(cause: "CommandNotFound",
                                  message: "pod \(exit.pod) exited with \(code): \(said). Fix spec.command, or make the program reachable (`tarmac up --pod-path DIR` adds a directory to local pods' PATH)",
                                  retryable: false)
                }
                return Triage(cause: "CommandNotFound",
                              message: "pod \(exit.pod) exited with \(code): the command could not be run\(tail.isEmpty ? "" : " (\(tail))"). The program in spec.command must exist on the machine (local) or in the image (Kubernetes), and be executable; fix spec.command",
                              retryable: false)
            }
            // Failures that the same code, files and machine would repeat: not retried.
            if text.contains("ModuleNotFoundError") || text.contains("ImportError") || text.contains("cannot find module") || text.contains(": No module named ") {
                return Triage(cause: "ImportError",
                              message: "pod \(exit.pod) exited with code \(code): a module could not be imported (\(tail)). Install it in the image (Kubernetes), or in the Python the pod ran (local: the first on the server's PATH, which pods share read-only), or send the code with the workload (spec.workdir); or fix the import",
                              retryable: false)
            }
            if text.contains("can't open file") || text.contains("FileNotFoundError") || text.contains("No such file or directory") {
                return Triage(cause: "FileNotFound",
                              message: "pod \(exit.pod) exited with code \(code): a file it needs does not exist (\(tail)). Send your code with the workload (`tarmac submit --workdir DIR`, or spec.workdir) or fix the path in spec.command",
                              retryable: false)
            }
            if text.contains("Address already in use") || text.contains("EADDRINUSE") {
                return Triage(cause: "PortInUse",
                              message: "pod \(exit.pod) exited with code \(code): the port it listens on is taken (\(tail)). Listen on $PORT, the port Tarmac gives each replica",
                              retryable: false)
            }
            return Triage(cause: "ApplicationError", message: "pod \(exit.pod) exited with code \(code)\(tail.isEmpty ? "" : "; last lines: \(tail)")", retryable: true)
        }
    }
}
