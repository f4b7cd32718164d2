import TarmacCore
import Foundation
import Subprocess
import TarmacModel
import TarmacPlanning

/// This machine as the local backend's one node: its cores, memory and GPUs (from `nvidia-smi -L` when present),
/// unless the caller overrides them.
public enum MachineInventory {
    public struct GPU: Sendable, Hashable {
        public var index: Int
        public var name: String
    }

    /// The node: explicit values (flags) first, then the contract's `local` section, then what the machine has.
    public static func detect(platform: Platform, cpus: Int? = nil, memoryMiB: Int? = nil) async -> NodeInventory {
        let found = await nvidiaGPUs()
        let local = platform.local
        let machineCPU: Int = ProcessInfo.processInfo.activeProcessorCount * 1000
        let machineMemory = Int(ProcessInfo.processInfo.physicalMemory >> 20)
        let contractCPU: Int? = local?.cpu.map { Int($0.millis) }
        let contractMemory: Int? = local?.memory.map { Int($0.bytes >> 20) }
        let cpuMilli: Int = cpus.map { $0 * 1000 } ?? contractCPU ?? machineCPU
        let memory: Int = memoryMiB ?? contractMemory ?? machineMemory
        let gpus = local?.gpus ?? found.count
        return NodeInventory(name: ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "local",
                             cpuMilli: cpuMilli, memoryMiB: memory, gpus: gpus,
                             accelerator: gpus == 0 ? nil : local?.accelerator ?? found.first.flatMap { accelerator(named: $0.name, in: platform) })
    }

    /// `nvidia-smi -L` lines: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)`. None when the tool is missing.
    public static func nvidiaGPUs() async -> [GPU] {
        guard let result = try? await Subprocess.run(.name("nvidia-smi"), arguments: ["-L"], output: .string(limit: 1 << 16)),
              result.terminationStatus.isSuccess else { return [] }
        let text = result.standardOutput
        return parse(text)
    }

    public static func parse(_ text: String) -> [GPU] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("GPU "), let colon = line.firstIndex(of: ":"), let i = Int(line[line.index(line.startIndex, offsetBy: 4)..<colon]) else { return nil }
            var name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let p = name.range(of: " (UUID") { name = String(name[..<p.lowerBound]) }
            return GPU(index: i, name: name)
        }
    }

    /// The contract's accelerator whose product is the GPU's name (ignoring case, spaces and dashes); exact, so that an
    /// L40S is never taken for an L4.
    public static func accelerator(named gpu: String, in platform: Platform) -> String? {
        func norm(_ s: String) -> String { s.lowercased().filter { $0.isLetter || $0.isNumber } }
        let g = norm(gpu)
        return platform.accelerators.values.sorted { $0.name < $1.name }.first { a in
            a.product.map { norm($0) == g } ?? false
        }?.name
    }
}
