import ArgumentParser
import Foundation
import TarmacAPI

struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "GPU utilization, memory and throttling of the running workloads, from the GPUs' own readings.",
        discussion: """
        Each GPU's reading (NVML through one long-running nvidia-smi on this machine) goes to the workloads holding it, by share: two workloads on one GPU at 0.25 and 0.5 account for 1/3 and 2/3 of its utilization. Utilization is in points summed over a workload's GPUs (two busy GPUs: up to 200). Admins and auditors also see every device. Empty where the machine has no GPU or no nvidia-smi.

        Examples:
          tarmac top
          tarmac top -o json
        """)

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient {
            let data = try await client.client().call(.GET, "/v1/telemetry").body
            guard client.output.format == .text else { return try printStructured(data, client.output.format) }
            let t = try ServerClient.decode(TelemetryView.self, data)
            guard t.at != nil else {
                print("no GPU readings here (no GPU, or no nvidia-smi on this machine)")
                return
            }
            print(Terminal.table(["WORKLOAD", "TEAM", "KIND", "GPUS", "UTIL", "MEMORY", "THROTTLING"], t.workloads.map { w in
                [w.name, w.team, w.kind, String(format: "%g", w.gpus), String(format: "%.0f%%", w.utilization), String(format: "%.0f MiB", w.memoryUsedMiB),
                 w.throttling.isEmpty ? "-" : w.throttling.joined(separator: ",")]
            }))
            if let devices = t.devices, !devices.isEmpty {
                print("")
                print(Terminal.table(["NODE", "GPU", "UTIL", "MEMORY", "POWER", "THROTTLING"], devices.map { d in
                    [d.node, String(d.gpu), String(format: "%.0f%%", d.utilization),
                     String(format: "%.0f", d.memoryUsedMiB) + (d.memoryTotalMiB.map { String(format: " / %.0f MiB", $0) } ?? " MiB"),
                     d.powerWatts.map { String(format: "%.0f W", $0) } ?? "-", d.throttling.isEmpty ? "-" : d.throttling.joined(separator: ",")]
                }))
            }
        }
    }
}
