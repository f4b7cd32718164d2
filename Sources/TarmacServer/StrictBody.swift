import Foundation
import TarmacAPI
import TarmacModel

/// Request bodies decoded as strictly as documents: a JSON object whose every field is known (an unknown one is a 422
/// naming the closest known field, so a typo such as `tean` or `lifetime` is never silently ignored), and whose values
/// have the right types (422 with an example).
enum StrictBody {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, known: [String], example: String, types: String) throws -> T {
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw APIError(.badRequest, code: "badRequest", "the body must be a JSON object, e.g. \(example)")
        }
        let unknown = fields.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            let each = unknown.map { "unknown field '\($0)'" + Suggestions.hint(for: $0, in: known, noun: "fields") }
            throw APIError(.unprocessableContent, code: "invalid", each.joined(separator: "; "))
        }
        do {
            return try APIJSON.decoder.decode(T.self, from: data)
        } catch {
            throw APIError(.unprocessableContent, code: "invalid", "\(types), e.g. \(example)")
        }
    }
}
