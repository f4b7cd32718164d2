import Foundation
import GRDB

/// Named schema migrations, applied in order and never edited once released.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-workloads") { db in
            try db.create(table: "workload") { t in
                t.primaryKey("id", .text)
                t.column("requestID", .text).unique()
                t.column("team", .text).notNull().indexed()
                t.column("state", .text).notNull().indexed()
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("body", .blob).notNull()
            }
        }
        m.registerMigration("v1-tokens") { db in
            try db.create(table: "token") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull()
                t.column("role", .text).notNull()
                t.column("team", .text)
                t.column("hash", .text).notNull().unique()
                t.column("createdAt", .datetime).notNull()
                t.column("expiresAt", .datetime)
                t.column("revoked", .boolean).notNull().defaults(to: false)
                t.column("createdBy", .text).notNull()
            }
        }
        m.registerMigration("v1-audit") { db in
            try db.create(table: "audit") { t in
                t.primaryKey("seq", .integer)
                t.column("timeMillis", .integer).notNull().indexed()
                t.column("actorKind", .text).notNull()
                t.column("actorID", .text).notNull()
                t.column("action", .text).notNull()
                t.column("object", .text).notNull()
                t.column("before", .text).notNull()
                t.column("after", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("previousHash", .text).notNull()
                t.column("hash", .text).notNull()
            }
        }
        // The resolved plan of each workload, stored at submit so a restart does not parse and resolve its document
        // again (older rows have none and are resolved once more), and the transition stream's durable log.
        m.registerMigration("v2-workload-plans") { db in
            try db.alter(table: "workload") { t in t.add(column: "plan", .blob) }
        }
        m.registerMigration("v2-transitions") { db in
            try db.create(table: "transition") { t in
                t.column("seq", .integer).primaryKey()
                t.column("workload", .text).notNull().indexed()
                t.column("event", .text).notNull()
                t.column("body", .blob).notNull()
            }
        }
        // Agent and workload identity: signing keys (sealed), grants, and one-time credentials already used.
        m.registerMigration("v3-identity") { db in
            try db.create(table: "signing_key") { t in
                t.primaryKey("kid", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("body", .blob).notNull()
            }
            try db.create(table: "grant") { t in
                t.primaryKey("id", .text)
                t.column("workload", .text).notNull().indexed()
                t.column("body", .blob).notNull()
            }
            try db.create(table: "redemption") { t in
                t.primaryKey("key", .text)
                t.column("at", .datetime).notNull()
            }
        }
        // Audit queries by indexed columns instead of text inside `detail`: the tool and the workload a record is
        // about (outside the hash), and the query columns held as bytes like every field written since (earlier rows
        // held text, which sorts apart from bytes and would escape a range). Tools of earlier grants are read from
        // their detail (`AGENT (ID) TOOL:SCOPE: ...`).
        m.registerMigration("v4-audit-query-columns") { db in
            try db.alter(table: "audit") { t in
                t.add(column: "tool", .blob)
                t.add(column: "workload", .blob)
            }
            for c in ["actorKind", "actorID", "action", "object"] {
                try db.execute(sql: "UPDATE audit SET \(c) = CAST(\(c) AS BLOB) WHERE typeof(\(c)) = 'text'")
            }
            try db.execute(sql: "UPDATE audit SET tool = CAST(substr(object, 6) AS BLOB) WHERE substr(object, 1, 5) = CAST('tool/' AS BLOB)")
            try db.execute(sql: "UPDATE audit SET workload = CAST(substr(object, 10) AS BLOB) WHERE substr(object, 1, 9) = CAST('workload/' AS BLOB)")
            let grants = try Row.fetchAll(db, sql: "SELECT seq, detail FROM audit WHERE substr(object, 1, 6) = CAST('grant/' AS BLOB)")
            for row in grants {
                let detail = (row["detail"] as Data?).map { String(decoding: $0, as: UTF8.self) } ?? ""
                guard let close = detail.range(of: ") "), let colon = detail[close.upperBound...].firstIndex(of: ":") else { continue }
                try db.execute(sql: "UPDATE audit SET tool = ? WHERE seq = ?", arguments: [Data(detail[close.upperBound..<colon].utf8), row["seq"] as Int64])
            }
            // Two indexes every record pays for (its actor, its workload when it has one) and one only tool records do:
            // each costs the single writer on every append, and the submit rate shows it.
            try db.create(index: "audit_actor", on: "audit", columns: ["actorID"])
            try db.create(index: "audit_workload", on: "audit", columns: ["workload"], condition: Column("workload") != nil)
            try db.create(index: "audit_tool", on: "audit", columns: ["tool"], condition: Column("tool") != nil)
        }
        // The model registry: versions (unique by precedence: build metadata aside) and the aliases that point at them.
        m.registerMigration("v5-model-registry") { db in
            try db.create(table: "model_version") { t in
                t.column("team", .text).notNull()
                t.column("model", .text).notNull()
                t.column("version", .text).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["team", "model", "version"])
            }
            try db.create(table: "model_alias") { t in
                t.column("team", .text).notNull()
                t.column("model", .text).notNull()
                t.column("name", .text).notNull()
                t.column("version", .text).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["team", "model", "name"])
            }
        }
        // Approvals of model versions (a review by someone other than the author), once per person and version.
        m.registerMigration("v6-model-approvals") { db in
            try db.create(table: "model_approval") { t in
                t.column("team", .text).notNull()
                t.column("model", .text).notNull()
                t.column("version", .text).notNull()
                t.column("by", .text).notNull()
                t.column("seq", .integer).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["team", "model", "version", "by"])
            }
        }
        // Rollouts, one per service (the runner's state, kept across restarts).
        m.registerMigration("v7-rollouts") { db in
            try db.create(table: "rollout") { t in
                t.column("team", .text).notNull()
                t.column("service", .text).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["team", "service"])
            }
        }
        // Reviews of serving documents (by digest), once per person, team and document.
        m.registerMigration("v8-document-reviews") { db in
            try db.create(table: "document_review") { t in
                t.column("team", .text).notNull()
                t.column("digest", .text).notNull()
                t.column("by", .text).notNull()
                t.column("seq", .integer).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["team", "digest", "by"])
            }
        }
        // The metering ledger: usage per workload and UTC day, and the transition it was summed up to (one row).
        m.registerMigration("v9-usage") { db in
            try db.create(table: "usage") { t in
                t.column("day", .text).notNull()
                t.column("workload", .text).notNull()
                t.column("team", .text).notNull().indexed()
                t.column("accelerator", .text)
                t.column("gpu", .double).notNull()
                t.column("cpu", .double).notNull()
                t.column("memory", .double).notNull()
                t.column("body", .blob).notNull()
                t.primaryKey(["day", "workload"])
            }
            try db.create(table: "usage_cursor") { t in
                t.column("id", .integer).primaryKey().check { $0 == 1 }
                t.column("seq", .integer).notNull()
            }
        }
        // What inference services served, per workload and day: tokens, requests, model loads.
        m.registerMigration("v10-usage-inference") { db in
            try db.alter(table: "usage") { t in
                t.add(column: "prompt_tokens", .integer).notNull().defaults(to: 0)
                t.add(column: "completion_tokens", .integer).notNull().defaults(to: 0)
                t.add(column: "requests", .integer).notNull().defaults(to: 0)
                t.add(column: "load_seconds", .double).notNull().defaults(to: 0)
                t.add(column: "loads", .integer).notNull().defaults(to: 0)
            }
        }
        // Leadership among replicas (the PostgreSQL store's; one process holds a SQLite file, so it stays empty here):
        // the same named migrations on both stores.
        m.registerMigration("v11-leadership") { db in
            try db.create(table: "leadership") { t in
                t.column("id", .integer).primaryKey().check { $0 == 1 }
                t.column("epoch", .integer).notNull()
                t.column("holder", .text).notNull()
                t.column("since", .datetime).notNull()
            }
        }
        return m
    }
}
