import Foundation
import TarmacModel

/// Checks a tree against a schema and reports every problem at once, each at its exact position.
public struct SchemaChecker: Sendable {
    /// When false (a single layer of a layered contract), missing required fields are not reported:
    /// another layer may supply them. The merged result is then checked with this on.
    public var checkRequired: Bool = true

    public init(checkRequired: Bool = true) { self.checkRequired = checkRequired }

    public func check(_ node: YNode, against schema: Schema, path: String) -> [Diagnostic] {
        var out: [Diagnostic] = []
        walk(node, schema, path, &out)
        return out
    }

    private func walk(_ node: YNode, _ schema: Schema, _ path: String, _ out: inout [Diagnostic]) {
        switch schema {
        case .object(let object):
            if node.isNull { if checkRequired { missing(object, in: node, path, &out) }; return }
            guard let entries = node.entries else {
                out.append(.error(at: node.location, "\(path) must be a mapping, got \(node.kindName)", rule: "type"))
                return
            }
            for entry in entries {
                let child = path.isEmpty ? entry.key : path + "." + entry.key
                if let field = object.field(entry.key) {
                    if entry.value.isNull { continue }  // explicit null: absent (and a removal when layering)
                    walk(entry.value, field.schema, child, &out)
                } else if let f = object.forbidden.first(where: { $0.names.contains(entry.key) }) {
                    out.append(.error(at: entry.keyLocation, "'\(entry.key)' is not allowed: \(f.message)", rule: f.rule, help: f.help))
                } else {
                    let names = object.fields.map(\.name)
                    out.append(.error(at: entry.keyLocation,
                                      "unknown field '\(entry.key)' in \(path.isEmpty ? "document" : path)" + Suggestions.hint(for: entry.key, in: names, noun: "fields"),
                                      rule: "unknown-field"))
                }
            }
            if checkRequired { missing(object, in: node, path, &out) }
        case .map(let keys, let values, _):
            if node.isNull { return }
            guard let entries = node.entries else {
                out.append(.error(at: node.location, "\(path) must be a mapping of names, got \(node.kindName)", rule: "type"))
                return
            }
            for entry in entries {
                if let problem = keyProblem(entry.key, keys) {
                    out.append(.error(at: entry.keyLocation, "\(path): \(problem)", rule: "invalid-name"))
                }
                if entry.value.isNull && !isScalar(values) {
                    out.append(.error(at: entry.value.location, "\(path).\(entry.key) is empty", rule: "type"))
                    continue
                }
                walk(entry.value, values, path + "." + entry.key, &out)
            }
        case .list(let element, _, let minItems):
            if node.isNull { return }
            guard let items = node.items else {
                out.append(.error(at: node.location, "\(path) must be a list, got \(node.kindName)", rule: "type"))
                return
            }
            if items.count < minItems {
                out.append(.error(at: node.location, "\(path) needs at least \(minItems) item\(minItems == 1 ? "" : "s")", rule: "type"))
            }
            for (i, item) in items.enumerated() { walk(item, element, "\(path)[\(i)]", &out) }
        case .scalar(let type, _):
            if let d = ScalarCheck.problem(node, type, path) { out.append(d) }
        }
    }

    private func isScalar(_ s: Schema) -> Bool {
        if case .scalar = s { return true }
        return false
    }

    private func missing(_ object: ObjectSchema, in node: YNode, _ path: String, _ out: inout [Diagnostic]) {
        for field in object.fields where field.required {
            let value = node[field.name]
            if value == nil || value!.isNull {
                let place = path.isEmpty ? "document" : path
                out.append(.error(at: node.location, "missing required field '\(field.name)' in \(place)", rule: "missing-field"))
            }
        }
    }

    private func keyProblem(_ key: String, _ rule: KeyRule) -> String? {
        switch rule {
        case .any: return nil
        case .name:
            return DNSName.isLabel(key) ? nil
                : "'\(key)' is not a valid name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        case .envVar:
            return ScalarCheck.isEnvVarName(key) ? nil : "'\(key)' is not a valid environment variable name"
        case .labelKey:
            return ScalarCheck.isLabelKey(key) ? nil : "'\(key)' is not a valid label key"
        }
    }
}

/// Checks of single scalars, shared by the schema checker and the typed decoders.
public enum ScalarCheck {
    static func problem(_ node: YNode, _ type: ScalarType, _ path: String) -> Diagnostic? {
        let loc = node.location
        guard case .scalar(let text, let plain) = node.value else {
            return .error(at: loc, "\(path) must be \(expectation(type)), got \(node.kindName)", rule: "type")
        }
        func bad(_ what: String, rule: String = "type", help: String? = nil) -> Diagnostic {
            .error(at: loc, "\(path): \(what)", rule: rule, help: help)
        }
        switch type {
        case .string:
            return nil
        case .name:
            return DNSName.isLabel(text) ? nil
                : bad("'\(text)' is not a valid name (lowercase letters, digits and '-', at most 63 characters)", rule: "invalid-name")
        case .email:
            let parts = text.split(separator: "@")
            return parts.count == 2 && parts[1].contains(".") && !text.contains(" ") ? nil : bad("'\(text)' is not an email address", rule: "invalid-value")
        case .image:
            return ImageReference(text) == nil ? bad("'\(text)' is not a valid image reference (registry/repository:tag or @sha256:digest)", rule: "invalid-value") : nil
        case .model:
            return ModelReference(text) == nil ? bad("'\(text)' is not a model reference; write name@version, e.g. ranker@3", rule: "invalid-value") : nil
        case .absolutePath:
            return text.hasPrefix("/") ? nil : bad("'\(text)' must be an absolute path", rule: "invalid-value")
        case .relativePath:
            return text.isEmpty ? bad("path is empty", rule: "invalid-value") : nil
        case .cidr:
            return isCIDR(text) ? nil : bad("'\(text)' is not a CIDR block like 10.0.0.0/16", rule: "invalid-value")
        case .url:
            return (text.hasPrefix("https://") || text.hasPrefix("http://")) && text.count > 8 ? nil : bad("'\(text)' is not an http(s) URL", rule: "invalid-value")
        case .labelKey:
            return isLabelKey(text) ? nil : bad("'\(text)' is not a valid label key", rule: "invalid-value")
        case .cpu:
            switch CPUQuantity.parse(text) {
            case .success: return nil
            case .failure(let e): return quantityProblem(e, text, "a CPU quantity (cores like 8 or 0.5, or millicores like 500m)", loc, path)
            }
        case .bytes:
            switch ByteQuantity.parse(text) {
            case .success: return nil
            case .failure(let e): return quantityProblem(e, text, "a memory quantity like 512Mi or 64Gi", loc, path)
            }
        case .gpus:
            switch GPUAmount.parse(text) {
            case .success: return nil
            case .failure(.negative): return .error(at: loc, "\(path) must not be negative, got '\(text)'", rule: "non-positive")
            case .failure(.tooPrecise): return bad("'\(text)' has more than 3 decimals; GPU amounts are counted in thousandths", rule: "invalid-quantity")
            case .failure(.malformed): return bad("'\(text)' is not a number of GPUs (like 1, 8 or 0.5)", rule: "invalid-quantity")
            }
        case .duration:
            switch TimeSpan.parse(text) {
            case .success: return nil
            case .failure(.zero): return .error(at: loc, "\(path) must be greater than zero, got '\(text)'", rule: "non-positive")
            case .failure(.malformed): return bad("'\(text)' is not a duration like 90s, 30m, 12h or 1h30m", rule: "invalid-quantity")
            }
        case .integer(let min, let max):
            guard plain, let n = Int(text) else { return bad("expected an integer, got '\(text)'") }
            if n < min {
                return .error(at: loc, "\(path) must be at least \(min), got \(n)", rule: min > 0 ? "non-positive" : "out-of-range")
            }
            if n > max { return .error(at: loc, "\(path) must be at most \(max), got \(n)", rule: "out-of-range") }
            return nil
        case .number(let min):
            guard plain, let v = Double(text), v.isFinite else { return bad("expected a number, got '\(text)'") }
            if v < min { return .error(at: loc, "\(path) must be at least \(formatNumber(min)), got \(text)", rule: "out-of-range") }
            return nil
        case .bool:
            guard plain, text == "true" || text == "false" else { return bad("expected true or false, got '\(text)'") }
            return nil
        case .oneOf(let options):
            return options.contains(text) ? nil
                : bad("'\(text)' is not one of \(options.joined(separator: ", "))" + (Suggestions.closest(to: text, in: options).map { "; did you mean '\($0)'?" } ?? ""), rule: "invalid-value")
        case .replicas:
            guard let r = ReplicaRange.parse(text) else { return bad("'\(text)' is not a replica count like 2 or a range like 1..4") }
            if r.min < 0 || r.max < 1 || r.min > r.max {
                return .error(at: loc, "\(path): replicas \(text) must satisfy 0 <= min <= max and max >= 1", rule: "out-of-range")
            }
            return nil
        case .constant(let value):
            return text == value ? nil : bad("must be '\(value)', got '\(text)'", rule: "invalid-value")
        case .quotaAmount:
            return QuantityParser.value(of: text) == nil ? bad("'\(text)' is not a quantity", rule: "invalid-quantity") : nil
        }
    }

    private static func quantityProblem(_ e: QuantityError, _ text: String, _ what: String, _ loc: SourceLocation, _ path: String) -> Diagnostic {
        switch e {
        case .negative: .error(at: loc, "\(path) must not be negative, got '\(text)'", rule: "non-positive")
        case .zero: .error(at: loc, "\(path) must be greater than zero, got '\(text)'", rule: "non-positive")
        case .malformed, .tooPrecise: .error(at: loc, "\(path): '\(text)' is not \(what)", rule: "invalid-quantity")
        case .tooLarge: .error(at: loc, "\(path): '\(text)' is too large", rule: "invalid-quantity")
        }
    }

    static func expectation(_ type: ScalarType) -> String {
        switch type {
        case .integer: "an integer"
        case .number: "a number"
        case .bool: "true or false"
        case .cpu: "a CPU quantity"
        case .bytes: "a memory quantity"
        case .gpus: "a number of GPUs"
        case .duration: "a duration"
        default: "a string"
        }
    }

    static func formatNumber(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(v)
    }

    public static func isEnvVarName(_ s: String) -> Bool {
        guard let f = s.first, f == "_" || (f.isASCII && f.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    public static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last, !name.isEmpty, name.count <= 63 else { return false }
        if parts.count == 2 {
            let prefix = parts[0]
            guard !prefix.isEmpty, prefix.count <= 253,
                  prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ DNSName.isLabel(String($0)) }) else { return false }
        }
        guard let f = name.first, let l = name.last, f.isASCII && (f.isLetter || f.isNumber), l.isASCII && (l.isLetter || l.isNumber) else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    public static func isCIDR(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let bits = Int(parts[1]) else { return false }
        if parts[0].contains(":") { return bits >= 0 && bits <= 128 && parts[0].allSatisfy { $0.isHexDigit || $0 == ":" } }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        return bits >= 0 && bits <= 32 && octets.count == 4 && octets.allSatisfy { o in
            guard let v = Int(o), o.count <= 3 else { return false }
            return v >= 0 && v <= 255
        }
    }
}
