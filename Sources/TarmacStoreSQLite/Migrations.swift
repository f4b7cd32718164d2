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
        return m
    }
}
