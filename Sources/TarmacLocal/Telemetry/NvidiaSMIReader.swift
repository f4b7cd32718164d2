#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization
import TarmacMetering

/// The local GPU telemetry: one long-running `nvidia-smi --query-gpu=... -lms N` (NVML's own sampling, not a process
/// per sample), its lines read as they come; the latest reading of each GPU is kept. With an owner resolver, a second
/// one (`--query-compute-apps`) lists each GPU's processes and their memory, given to their workloads. The process is started again
/// (after `restartAfter`) when it exits; with no `nvidia-smi` there are no readings.
public final class NvidiaSMIReader: TelemetrySource, Sendable {
    let executable: String
    let everyMs: Int
    let node: String
    let restartAfter: Duration
    let logger: Logger
    private let readings = Mutex<[Int: GPUSample]>([:])
    private let running = Mutex<[Process]>([])
    /// The processes on each GPU (by uuid, then pid): their memory and when last listed.
    private let apps = Mutex<[String: [Int32: (memoryMiB: Double, seen: ContinuousClock.Instant)]]>([:])
    /// Resolves a process to its workload: given, a second reader lists the processes on each GPU and their memory
    /// (`--query-compute-apps`), so a shared GPU's memory is each workload's own, not a share of the device's.
    let owner: (@Sendable (Int32) -> String?)?
    private let owners = Mutex<[Int32: String?]>([:])

    /// Where the reader's process id is kept (the data directory): a reader left by a control plane that was killed
    /// (`kill -9` leaves its children) is stopped by the next one.
    let pidFile: String?

    public init(executable: String = "nvidia-smi", everyMs: Int = 1000, node: String, restartAfter: Duration = .seconds(5), pidFile: String? = nil,
                owner: (@Sendable (Int32) -> String?)? = nil, logger: Logger) {
        self.owner = owner
        self.pidFile = pidFile
        self.executable = executable
        self.everyMs = everyMs
        self.node = node
        self.restartAfter = restartAfter
        self.logger = logger
    }

    public func latest() async -> [GPUSample] {
        var samples = readings.withLock { $0.values.sorted { $0.gpu < $1.gpu } }
        guard let owner else { return samples }
        // Processes listed within the last three periods, by workload.
        let now = ContinuousClock.now, fresh = Duration.milliseconds(3 * everyMs)
        let listed = apps.withLock { a in a.mapValues { $0.filter { now - $0.value.seen <= fresh } } }
        for i in samples.indices {
            guard let uuid = samples[i].uuid, let procs = listed[uuid] else { continue }
            var byWorkload: [String: Double] = [:]
            for (pid, p) in procs {
                let w = owners.withLock { o in
                    if let known = o[pid] { return known }
                    let found = owner(pid)
                    if o.count > 4096 { o.removeAll() }
                    o[pid] = found
                    return found
                }
                if let w { byWorkload[w, default: 0] += p.memoryMiB }
            }
            samples[i].memoryByWorkload = byWorkload
        }
        return samples
    }

    /// Reads until the task is cancelled: the GPUs, and their processes when an owner resolver is given.
    public func run() async {
        stopLeftOver()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await self.readOnce(NvidiaSMI.arguments(everyMs: self.everyMs)) { line in
                        if let s = NvidiaSMI.parse(line, node: self.node) { self.readings.withLock { $0[s.gpu] = s } }
                    }
                    try? await Task.sleep(for: self.restartAfter)
                }
            }
            if owner != nil {
                group.addTask {
                    while !Task.isCancelled {
                        await self.readOnce(NvidiaSMI.appArguments(everyMs: self.everyMs)) { line in
                            if let a = NvidiaSMI.parseApp(line) { self.apps.withLock { $0[a.uuid, default: [:]][a.pid] = (a.memoryMiB, .now) } }
                        }
                        try? await Task.sleep(for: self.restartAfter)
                    }
                }
            }
        }
    }

    /// Runs one reader once, until it exits (or the task is cancelled: then it is stopped), each line to `take`.
    func readOnce(_ arguments: [String], take: @escaping @Sendable (String) -> Void) async {
        let p = Process()
        if executable.contains("/") {
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [executable] + arguments
        }
        let out = Pipe()
        // The reading end stays in this process only: pods started later must not inherit it, or a reader that outlived
        // a killed control plane would keep nvidia-smi writing into a pipe nobody reads (it exits on the broken pipe).
        _ = fcntl(out.fileHandleForReading.fileDescriptor, F_SETFD, FD_CLOEXEC)
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        let pending = LineBuffer()
        out.fileHandleForReading.readabilityHandler = { h in
            let data = h.availableData
            guard !data.isEmpty else { h.readabilityHandler = nil; return }
            for l in pending.lines(adding: data) { take(l) }
        }
        do {
            try p.run()
        } catch {
            logger.debug("no GPU telemetry: nvidia-smi could not be started", metadata: ["error": "\(error)"])
            return
        }
        let pids = running.withLock { r in
            r.append(p)
            return r.map { "\($0.processIdentifier)\n" }.joined()
        }
        if let pidFile { try? pids.write(toFile: pidFile, atomically: true, encoding: .utf8) }
        await withTaskCancellationHandler {
            while p.isRunning, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(200)) }
        } onCancel: {
            if p.isRunning { p.terminate() }
        }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        running.withLock { $0.removeAll { $0 === p } }
        logger.info("nvidia-smi stopped; it is started again", metadata: ["status": "\(p.terminationStatus)"])
    }
}

extension NvidiaSMIReader {
    /// Stops the reader an earlier control plane left running (its pid file names it, and it is still an nvidia-smi
    /// reading GPUs: a pid reused by something else is left alone).
    func stopLeftOver() {
        guard let pidFile, let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            guard let pid = Int32(line.trimmingCharacters(in: .whitespaces)), pid > 1,
                  let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  cmdline.contains("nvidia-smi"), cmdline.contains("--query-gpu") || cmdline.contains("--query-compute-apps") else { continue }
            kill(pid, SIGTERM)
            logger.info("stopped the GPU reader an earlier control plane left running", metadata: ["pid": "\(pid)"])
        }
    }
}

/// Bytes as they come, cut into whole lines.
final class LineBuffer: Sendable {
    private let buffer = Mutex("")
    func lines(adding data: Data) -> [String] {
        buffer.withLock { buf in
            buf += String(decoding: data, as: UTF8.self)
            guard let last = buf.lastIndex(of: "\n") else { return [] }
            let complete = buf[..<last]
            buf = String(buf[buf.index(after: last)...])
            return complete.split(separator: "\n").map(String.init)
        }
    }
}
