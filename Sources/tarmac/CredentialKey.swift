import Crypto
import Foundation

/// The key workload credentials are derived from, kept in the data directory (mode 0600) so that pods' credentials stay
/// valid across a restart of the control plane. Created on the first start.
enum CredentialKey {
    static func load(_ path: String) throws -> SymmetricKey {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw CredentialKeyError(message: "\(path) is not a 32-byte key; remove it to create a new one (running pods lose their checkpoint credentials)") }
            return SymmetricKey(data: data)
        }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CredentialKeyError(message: "cannot write \(path)")
        }
        return key
    }
}

struct CredentialKeyError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
