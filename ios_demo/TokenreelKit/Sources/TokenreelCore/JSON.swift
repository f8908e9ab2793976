import Foundation

/// A JSON value that keeps what Python's json keeps: ints apart from floats (25 vs 25.0) and key order
/// irrelevant. `.trl` headers must be written byte for byte as Python's `json.dumps(header, sort_keys=True)`
/// does, which Foundation's encoders do not (spacing, float format, escaping), hence this small type.
public enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// An int, or a float with an integral value (Python's int(v) on a JSON number).
    public var intValue: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .double(let v): return v.isFinite && v.rounded(.towardZero) == v ? Int(exactly: v) : nil
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
}

// MARK: - Writing, as Python's json.dumps(value, sort_keys=True) with its defaults

extension JSONValue {
    /// Python's `json.dumps(self, sort_keys=True)`: ", " and ": " separators, ASCII only, floats as repr.
    public func pythonDumps() throws -> String {
        var out = ""
        try write(into: &out)
        return out
    }

    private func write(into out: inout String) throws {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let v): out += String(v)
        case .double(let v): out += try Self.pythonRepr(v)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += ", " }; try v.write(into: &out) }
            out += "]"
        case .object(let o):
            out += "{"
            // Python sorts str keys by code point; UTF-8 byte order is the same order
            for (i, k) in o.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).enumerated() {
                if i > 0 { out += ", " }
                Self.writeString(k, into: &out)
                out += ": "
                try o[k]!.write(into: &out)
            }
            out += "}"
        }
    }

    /// repr(float): the shortest digits that round-trip, laid out as Python does ("25.0", "0.0001",
    /// "1e-05", "1e+16": exponent form when the decimal exponent is below -4 or at least 16). Swift's
    /// `description` gives the same shortest digits, in its own layout: only the digits and exponent are
    /// taken from it.
    static func pythonRepr(_ v: Double) throws -> String {
        guard v.isFinite else { throw TokenreelError("cannot write \(v) in a JSON header") }
        if v == 0 { return v.sign == .minus ? "-0.0" : "0.0" }
        let s = v.magnitude.description
        var mantissa = Substring(s), exp10 = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = s[..<e]
            exp10 = Int(s[s.index(after: e)...])!
        }
        let dot = mantissa.firstIndex(of: ".")
        let intPart = dot.map { mantissa[..<$0] } ?? mantissa
        let fracPart = dot.map { mantissa[mantissa.index(after: $0)...] } ?? ""
        var digits = Array(intPart + fracPart)     // value = 0.d1d2d3... * 10^point
        var point = intPart.count + exp10
        while digits.count > 1 && digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        let sign = v.sign == .minus ? "-" : ""
        let e = point - 1                         // the decimal exponent of the first digit
        if e < -4 || e >= 16 {
            let rest = digits.count > 1 ? "." + String(digits[1...]) : ""
            return sign + String(digits[0]) + rest + "e" + (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + String(digits) }
        if point >= digits.count { return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0" }
        return sign + String(digits[..<point]) + "." + String(digits[point...])
    }

    /// A JSON string with Python's ensure_ascii escaping.
    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.utf16 {
            switch u {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.append(Character(Unicode.Scalar(UInt8(u))))
            default:   // \uXXXX in lowercase hex; UTF-16 units, so astral characters become surrogate pairs
                let h = String(u, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            }
        }
        out += "\""
    }
}

// MARK: - Reading

extension JSONValue {
    /// `maxDepth`: how deep arrays and objects may nest (the top value is depth 1). `strict`, for untrusted
    /// files (.trl headers), reads as tokenreel's errors.load_json does: UTF-8 only, numbers as JSON spells
    /// them and finite, no key twice in an object.
    public static func parse(_ data: Data, maxDepth: Int = 511, strict: Bool = false) throws -> JSONValue {
        var p = JSONParser(bytes: [UInt8](data), maxDepth: maxDepth, strict: strict)
        // decoding repairs bad UTF-8 (U+FFFD), so a text that does not re-encode to its bytes is not UTF-8
        if strict, !String(decoding: p.bytes, as: UTF8.self).utf8.elementsEqual(p.bytes) { throw p.error("not UTF-8") }
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.error("extra data after the JSON value") }
        return v
    }

    public static func parse(_ text: String) throws -> JSONValue { try parse(Data(text.utf8)) }
}

struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int, strict: Bool
    var i = 0
    var depth = 0

    init(bytes: [UInt8], maxDepth: Int, strict: Bool) { (self.bytes, self.maxDepth, self.strict) = (bytes, maxDepth, strict) }

    func error(_ why: String) -> TokenreelError { TokenreelError("invalid JSON at byte \(i): \(why)") }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func expect(_ literal: String, _ v: JSONValue) throws -> JSONValue {
        let l = Array(literal.utf8)
        guard i + l.count <= bytes.count, Array(bytes[i..<(i + l.count)]) == l else { throw error("expected \(literal)") }
        i += l.count
        return v
    }

    mutating func value() throws -> JSONValue {
        guard i < bytes.count else { throw error("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        default: return try number()
        }
    }

    mutating func object() throws -> JSONValue {
        depth += 1
        guard depth <= maxDepth else { throw error("nested more than \(maxDepth) deep") }
        defer { depth -= 1 }
        i += 1
        var o: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let k = try string()
            if strict, o[k] != nil { throw error("an object repeats the key '\(k)'") }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipSpace()
            o[k] = try value()   // a repeated key keeps the last value, as Python's json
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            throw error("expected ',' or '}'")
        }
    }

    mutating func array() throws -> JSONValue {
        depth += 1
        guard depth <= maxDepth else { throw error("nested more than \(maxDepth) deep") }
        defer { depth -= 1 }
        i += 1
        var a: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
        while true {
            skipSpace()
            a.append(try value())
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            throw error("expected ',' or ']'")
        }
    }

    mutating func hex4() throws -> UInt16 {
        guard i + 4 <= bytes.count, let v = UInt16(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        i += 4
        return v
    }

    mutating func string() throws -> String {
        i += 1   // opening quote
        var units: [UInt16] = []
        var run: [UInt8] = []
        func flush() { units.append(contentsOf: String(decoding: run, as: UTF8.self).utf16); run.removeAll() }
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b == UInt8(ascii: "\\") {
                flush()
                i += 1
                guard i < bytes.count else { throw error("unterminated escape") }
                let e = bytes[i]; i += 1
                switch e {
                case UInt8(ascii: "\""): units.append(0x22)
                case UInt8(ascii: "\\"): units.append(0x5C)
                case UInt8(ascii: "/"): units.append(0x2F)
                case UInt8(ascii: "b"): units.append(0x08)
                case UInt8(ascii: "f"): units.append(0x0C)
                case UInt8(ascii: "n"): units.append(0x0A)
                case UInt8(ascii: "r"): units.append(0x0D)
                case UInt8(ascii: "t"): units.append(0x09)
                case UInt8(ascii: "u"): units.append(try hex4())
                default: throw error("bad escape")
                }
            } else {
                if b < 0x20 { throw error("control character in string") }
                run.append(b); i += 1
            }
        }
        flush()
        return String(decoding: units, as: UTF16.self)
    }

    mutating func number() throws -> JSONValue {
        let start = i
        var isFloat = false
        while i < bytes.count {
            let b = bytes[i]
            if (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") {
                i += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
                isFloat = true; i += 1
            } else { break }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard !text.isEmpty else { throw error("unexpected character") }
        // as JSON (and Python's json) spells a number: no "+1", "01", ".5" or "1."
        if strict, text.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$"#, options: .regularExpression) == nil {
            throw error("bad number \(text)")
        }
        if !isFloat, let v = Int64(text) { return .int(v) }
        guard let d = Double(text) else { throw error("bad number \(text)") }
        if strict, !d.isFinite { throw error("number \(text) is out of range") }
        return .double(d)
    }
}
