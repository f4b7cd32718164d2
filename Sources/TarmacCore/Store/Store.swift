/// The control plane's durable state, one protocol per concern (workloads and transitions, audit, API tokens,
/// identity, the model registry, rollouts) so that each store (SQLite, in memory, PostgreSQL) implements them side by side and one conformance
/// suite (TarmacTesting's `StoreConformance`) checks every one.
public typealias Store = WorkloadStore & AuditStore & TokenStore & IdentityStore & RegistryStore & RolloutStore & UsageStore
