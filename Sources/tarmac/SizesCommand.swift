import ArgumentParser
import Foundation
import TarmacAPI
import TarmacModel

/// `tarmac sizes`: what can I run here? Every size of the contract, per class, with what it is and whether one pod of
/// it can start on this server within the team's quota, or why not.
struct SizesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sizes",
        abstract: "List the sizes a team may ask for, and which of them this server can start (and why the others cannot).",
        discussion: """
        Each size is checked as a submit checks it: one pod on this server's nodes as if they were empty, within the team's quota (and what its cohort could lend). A size that cannot start says why, in the contract's names (`this machine has no h100 GPUs`).

        Examples:
          tarmac sizes
          tarmac sizes --team ads --env prod
          tarmac sizes --class training -o json
        """)

    @OptionGroup var client: ClientOptions
    @Option(help: "The team to check for (default: your token's team; an admin must name one).") var team: String?
    @Option(help: "The environment whose sizes apply (default: the base contract's).") var env: String?
    @Option(name: .customLong("class"), help: "Only this workload class (training, batch, inference, agent).") var workloadClass: String?

    func validate() throws {
        if let c = workloadClass, WorkloadClass(rawValue: c) == nil {
            throw ValidationError("unknown --class '\(c)'; use one of \(WorkloadClass.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        try await runClient {
            var q: [String] = []
            if let team { q.append("team=\(ServerClient.query(team))") }
            if let env { q.append("env=\(ServerClient.query(env))") }
            let body = try await client.client().call(.GET, "/v1/sizes" + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))).body
            var list = try ServerClient.decode(SizeList.self, body)
            if let workloadClass { list.items = list.items.filter { $0.workloadClass == workloadClass } }
            guard client.output.format == .text else {
                return try printStructured(try JSONEncoder().encode(list), client.output.format)
            }
            print(Terminal.table(["CLASS", "SIZE", "RESOURCES", "HERE"], list.items.map { s in
                let here: String
                switch s.startsHere {
                case true?: here = "starts"
                case false?: here = "no: " + (s.why ?? "").replacingOccurrences(of: "cannot start here: ", with: "")
                case nil: here = "?"
                }
                return [s.workloadClass, s.name, Self.resources(s), here]
            }))
            if list.items.contains(where: { $0.startsHere == nil }) {
                Terminal.writeError("note: name a team (--team T) to see which sizes this server can start for it")
            }
        }
    }

    /// `1 l4 GPU, 8 CPUs, 32Gi` / `0.5 CPU, 512Mi, no GPU`.
    static func resources(_ s: SizeView) -> String {
        let millis = (try? CPUQuantity.parse(s.cpu).get())?.millis ?? 0
        let cores = Double(millis) / 1000
        let cpu = "\(String(format: "%g", cores)) CPU\(cores > 1 ? "s" : "")"
        let memory = (try? ByteQuantity.parse(s.memory).get())?.readable ?? s.memory
        guard let a = s.accelerator, let g = Double(s.gpus), g > 0 else { return "\(cpu), \(memory), no GPU" }
        return "\(s.gpus) \(a) GPU\(g > 1 ? "s" : ""), \(cpu), \(memory)"
    }
}
