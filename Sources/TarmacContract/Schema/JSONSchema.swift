import Foundation
import TarmacModel

/// Renders a `Schema` as JSON Schema (draft 2020-12), for editors to validate and complete documents.
public enum JSONSchemaWriter {
    public static func document(for kind: DocumentKind) -> String {
        var root = node(Schemas.schema(for: kind))
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        root["$id"] = "https://tarmac.dev/schemas/v1alpha1/\(kind.rawValue.lowercased()).json"
        root["title"] = kind.rawValue
        let data = try! JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static let quantityPattern = #"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"#

    static func node(_ schema: Schema) -> [String: Any] {
        switch schema {
        case .object(let o):
            var props: [String: Any] = [:]
            for f in o.fields {
                var p = node(f.schema)
                if p["description"] == nil { p["description"] = f.schema.description }
                props[f.name] = p
            }
            var out: [String: Any] = ["type": "object", "description": o.description, "properties": props, "additionalProperties": false]
            let required = o.fields.filter(\.required).map(\.name)
            if !required.isEmpty { out["required"] = required }
            return out
        case .map(let keys, let values, let d):
            var out: [String: Any] = ["type": "object", "description": d, "additionalProperties": node(values)]
            switch keys {
            case .name: out["propertyNames"] = ["pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"]
            case .envVar: out["propertyNames"] = ["pattern": "^[A-Za-z_][A-Za-z0-9_]*$"]
            case .labelKey, .any: break
            }
            return out
        case .list(let element, let d, let minItems):
            var out: [String: Any] = ["type": "array", "description": d, "items": node(element)]
            if minItems > 0 { out["minItems"] = minItems }
            return out
        case .scalar(let t, let d):
            var out = scalar(t)
            out["description"] = d
            return out
        }
    }

    static func scalar(_ t: ScalarType) -> [String: Any] {
        let quantity: [String: Any] = ["oneOf": [["type": "number", "exclusiveMinimum": 0], ["type": "string", "pattern": quantityPattern]]]
        switch t {
        case .string, .relativePath, .url, .labelKey, .image: return ["type": "string", "minLength": 1]
        case .name: return ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"]
        case .email: return ["type": "string", "format": "email"]
        case .model: return ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?@[A-Za-z0-9._-]+$"]
        case .absolutePath: return ["type": "string", "pattern": "^/"]
        case .cidr: return ["type": "string", "pattern": "^[0-9a-fA-F.:]+/[0-9]{1,3}$"]
        case .cpu, .bytes, .quotaAmount: return quantity
        case .gpus: return ["type": "number", "exclusiveMinimum": 0, "multipleOf": 0.001]
        case .duration: return ["type": "string", "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"]
        case .integer(let min, let max): return ["type": "integer", "minimum": min, "maximum": max]
        case .number(let min): return ["type": "number", "minimum": min]
        case .bool: return ["type": "boolean"]
        case .oneOf(let options): return ["enum": options]
        case .replicas: return ["oneOf": [["type": "integer", "minimum": 1], ["type": "string", "pattern": "^[0-9]+\\.\\.[0-9]+$"]]]
        case .constant(let v): return ["const": v]
        }
    }
}
