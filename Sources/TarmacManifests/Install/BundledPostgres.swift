import TarmacContract

/// A PostgreSQL for small installs, in the cluster beside Tarmac (`tarmac install --bundled-postgres`): one StatefulSet
/// pod of the official image on a PersistentVolumeClaim, Pod Security `restricted` (its `postgres` user, uid 999, a
/// read-only root with the socket directory and /tmp on emptyDirs), a headless Service, and a NetworkPolicy that lets
/// only Tarmac's pods reach it. Its password is the `password` key of the store's Secret, never rendered. One pod, no
/// replication, no backups: for more, give the DSN of a PostgreSQL run for it (a managed one, an operator's).
public struct BundledPostgres: Sendable, Equatable {
    /// The official image, Debian variant (its `postgres` user is uid 999).
    public var image = "docker.io/library/postgres:17-bookworm"
    public var storage = "10Gi"
    /// nil: the cluster's default StorageClass.
    public var storageClass: String?
    public init() {}

    public static let name = "tarmac-postgres"
    public static let user = "tarmac"
    public static let database = "tarmac"
    static let uid = 999

    /// The store's URL for Tarmac's pods (the password comes from PGPASSWORD): in-cluster traffic, no TLS.
    public static var url: String { "postgres://\(user)@\(name).\(Naming.systemNamespace).svc:5432/\(database)?sslmode=disable" }

    func render(labels base: [String: String], storeSecret: String, tarmacSelector: [String: String]) -> [KubeObject] {
        let ns = Naming.systemNamespace
        var labels = base
        labels["app.kubernetes.io/name"] = Self.name
        labels["app.kubernetes.io/component"] = "store"
        let selector = ["app.kubernetes.io/name": Self.name]
        let isReady: KValue = ["command": ["pg_isready", "-h", "127.0.0.1", "-U", .string(Self.user), "-d", .string(Self.database)]]
        let container: KValue = [
            "name": "postgres",
            "image": .string(image),
            "env": [
                ["name": "POSTGRES_USER", "value": .string(Self.user)],
                ["name": "POSTGRES_DB", "value": .string(Self.database)],
                ["name": "POSTGRES_PASSWORD", "valueFrom": ["secretKeyRef": ["name": .string(storeSecret), "key": "password"]]],
                // A folder under the volume's root (which may hold lost+found).
                ["name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"],
            ],
            "ports": [["name": "postgres", "containerPort": 5432, "protocol": "TCP"]],
            "readinessProbe": ["exec": isReady, "periodSeconds": 5],
            "livenessProbe": ["exec": isReady, "periodSeconds": 10, "failureThreshold": 6, "initialDelaySeconds": 30],
            "resources": ["requests": ["cpu": "250m", "memory": "256Mi"], "limits": ["memory": "1Gi"]],
            "securityContext": [
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
                "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "volumeMounts": [
                ["name": "data", "mountPath": "/var/lib/postgresql/data"],
                ["name": "run", "mountPath": "/var/run/postgresql"],
                ["name": "tmp", "mountPath": "/tmp"],
            ],
        ]
        var claim: [String: KValue] = ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": .string(storage)]]]
        if let storageClass { claim["storageClassName"] = .string(storageClass) }
        let statefulSet = KubeObject("apps/v1", "StatefulSet", name: Self.name, namespace: ns, labels: labels, body: ["spec": [
            "serviceName": .string(Self.name),
            "replicas": 1,
            "selector": ["matchLabels": .stringMap(selector)],
            "template": [
                "metadata": ["labels": .stringMap(labels)],
                "spec": [
                    "automountServiceAccountToken": false,
                    // PostgreSQL's fast shutdown: every transaction rolled back, the WAL flushed.
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": [
                        "runAsNonRoot": true, "runAsUser": .int(Self.uid), "runAsGroup": .int(Self.uid), "fsGroup": .int(Self.uid),
                        "seccompProfile": ["type": "RuntimeDefault"],
                    ],
                    "containers": [container],
                    "volumes": [["name": "run", "emptyDir": [:]], ["name": "tmp", "emptyDir": [:]]],
                ],
            ],
            "volumeClaimTemplates": [["metadata": ["name": "data"], "spec": .object(claim)]],
        ]])
        let service = KubeObject("v1", "Service", name: Self.name, namespace: ns, labels: labels, body: ["spec": [
            "clusterIP": "None", "selector": .stringMap(selector),
            "ports": [["name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"]],
        ]])
        // Only Tarmac's pods reach it.
        let policy = KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: Self.name, namespace: ns, labels: labels, body: ["spec": [
            "podSelector": ["matchLabels": .stringMap(selector)],
            "policyTypes": ["Ingress"],
            "ingress": [["from": [["podSelector": ["matchLabels": .stringMap(tarmacSelector)]]], "ports": [["protocol": "TCP", "port": 5432]]]],
        ]])
        return [statefulSet, service, policy]
    }
}
