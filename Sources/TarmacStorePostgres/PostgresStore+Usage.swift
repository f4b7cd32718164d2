import Foundation
import PostgresNIO
import TarmacCore

/// The metering ledger and the rollouts on PostgreSQL.
extension PostgresStore {
    public func usageCursor() async throws -> Int64 {
        try await read("SELECT seq FROM usage_cursor WHERE id = 1").first.map { try $0.decode(Int64.self) } ?? 0
    }

    public func applyUsage(_ batch: UsageBatch) async throws -> Bool {
        // Rows whose attributes (name, user, model...) were written once; the sums add up in their own columns.
        let rows = try batch.rows.map { ($0, try Self.encoder.encode($0)) }
        return try await write { sql in
            let cursor = try await sql.value("SELECT seq FROM usage_cursor WHERE id = 1 FOR UPDATE", as: Int64.self) ?? 0
            guard batch.through > cursor else { return false }
            for (r, body) in rows {
                try await sql.execute("""
                    INSERT INTO usage (day, workload, team, accelerator, gpu, cpu, memory, body)
                    VALUES (\(r.day), \(r.workload), \(r.team), \(r.accelerator), \(r.gpuSeconds), \(r.cpuSeconds), \(r.memoryGiBSeconds), \(body))
                    ON CONFLICT (day, workload) DO UPDATE SET gpu = usage.gpu + excluded.gpu, cpu = usage.cpu + excluded.cpu, memory = usage.memory + excluded.memory
                    """)
            }
            try await sql.execute("INSERT INTO usage_cursor (id, seq) VALUES (1, \(batch.through)) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq")
            return true
        }
    }

    public func addInferenceUsage(_ rows: [UsageRow]) async throws {
        let encoded = try rows.map { ($0, try Self.encoder.encode($0)) }
        try await write { sql in
            for (r, body) in encoded {
                try await sql.execute("""
                    INSERT INTO usage (day, workload, team, accelerator, gpu, cpu, memory, body, prompt_tokens, completion_tokens, requests, load_seconds, loads)
                    VALUES (\(r.day), \(r.workload), \(r.team), \(r.accelerator), 0, 0, 0, \(body), \(r.promptTokens), \(r.completionTokens), \(r.requests),
                      \(r.modelLoadSeconds), \(r.modelLoads))
                    ON CONFLICT (day, workload) DO UPDATE SET prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
                      completion_tokens = usage.completion_tokens + excluded.completion_tokens, requests = usage.requests + excluded.requests,
                      load_seconds = usage.load_seconds + excluded.load_seconds, loads = usage.loads + excluded.loads
                    """)
            }
        }
    }

    public func usage(since: String?, until: String?, team: String?) async throws -> [UsageRow] {
        try await read("""
            SELECT body, gpu, cpu, memory, prompt_tokens, completion_tokens, requests, load_seconds, loads FROM usage
            WHERE (\(since)::text IS NULL OR day >= \(since)) AND (\(until)::text IS NULL OR day < \(until)) AND (\(team)::text IS NULL OR team = \(team))
            ORDER BY day, workload
            """).map { row in
            let (body, gpu, cpu, memory, prompt, completion, requests, loadSeconds, loads) =
                try row.decode((Data, Double, Double, Double, Int64, Int64, Int64, Double, Int64).self)
            var r = try Self.decoder.decode(UsageRow.self, from: body)
            r.gpuSeconds = gpu
            r.cpuSeconds = cpu
            r.memoryGiBSeconds = memory
            r.promptTokens = prompt
            r.completionTokens = completion
            r.requests = requests
            r.modelLoadSeconds = loadSeconds
            r.modelLoads = loads
            return r
        }
    }

    public func usageTotals(since: String?, until: String?) async throws -> [UsageTotal] {
        try await read("""
            SELECT team, accelerator, SUM(gpu), SUM(cpu), SUM(memory) FROM usage
            WHERE (\(since)::text IS NULL OR day >= \(since)) AND (\(until)::text IS NULL OR day < \(until))
            GROUP BY team, accelerator ORDER BY team, accelerator NULLS FIRST
            """).map { row in
            let (team, accelerator, gpu, cpu, memory) = try row.decode((String, String?, Double, Double, Double).self)
            return UsageTotal(team: team, accelerator: accelerator, gpuSeconds: gpu, cpuSeconds: cpu, memoryGiBSeconds: memory)
        }
    }

    public func saveRollout(_ record: RolloutRecord) async throws {
        try await write { sql in
            try await sql.execute("""
                INSERT INTO rollout (team, service, body) VALUES (\(record.team), \(record.service), \(record.body))
                ON CONFLICT (team, service) DO UPDATE SET body = excluded.body
                """)
        }
    }

    public func rollouts() async throws -> [RolloutRecord] {
        try await read("SELECT team, service, body FROM rollout ORDER BY team, service").map { row in
            let (team, service, body) = try row.decode((String, String, Data).self)
            return RolloutRecord(team: team, service: service, body: body)
        }
    }

    public func deleteRollout(team: String, service: String) async throws {
        try await write { sql in try await sql.execute("DELETE FROM rollout WHERE team = \(team) AND service = \(service)") }
    }
}
