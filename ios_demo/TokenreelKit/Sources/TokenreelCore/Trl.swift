import Foundation

// The `.trl` token file, version 1 (docs/trl-format.md, tokenreel/runtime/trl.py).
//
//     magic "\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
//     | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)
//
// All integers little-endian. The payload holds the token grid as bit planes, coded by "ans-ctx"
// (AnsCoder.swift, written here byte for byte as Python writes it) or "zstd". Apple's Compression
// framework has no Zstandard, so zstd comes from outside: pass a `ZstdDecoder` (and `ZstdEncoder` to
// write zstd payloads); without one a zstd file fails with an error that says so.

/// Decompresses one Zstandard frame (e.g. a wrapper around libzstd's ZSTD_decompress).
public protocol ZstdDecoder {
    func decompress(_ data: Data, maxOutputSize: Int) throws -> Data
}

/// Compresses into one Zstandard frame (Python writes level 19).
public protocol ZstdEncoder {
    func compress(_ data: Data) throws -> Data
}

public enum Trl {
    public static let magic: [UInt8] = [0x89, 0x54, 0x52, 0x4C]
    public static let version: UInt8 = 1
    public static let maxHeader = 1 << 16
    public static let maxTokens = 1 << 26        // ~ 50 min of 30 fps video at 256 px: refuse anything larger
    public static let maxGridSide = 1024
    public static let coders = ["zstd", "ans-ctx"]  // Python's CODERS order: on equal sizes zstd is kept
    public static let required = ["tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder"]

    // MARK: writing

    /// tokens (T, H, W) -> the bytes of a .trl file. meta: the header fields except grid/coder
    /// (tokenizer, tokenizer_sha256, bits, fps, frames, size, source_size, resize).
    /// coder nil: the smaller of the payloads this build can write (ans-ctx, and zstd given an encoder).
    public static func pack(_ tokens: TokenGrid, meta: [String: JSONValue], coder: String? = nil,
                            zstd: ZstdEncoder? = nil) throws -> Data {
        guard let bits = meta["bits"]?.intValue else { throw TokenreelError("the .trl header needs an int 'bits'") }
        let planes = toPlanes(tokens, bits: bits)
        var payloads: [(String, Data)] = []
        for name in coders where coder == nil || coder == name {
            switch name {
            case "zstd":
                guard let zstd else {
                    if coder == "zstd" { throw TokenreelError("writing a zstd .trl needs a Zstandard encoder; none was given") }
                    continue
                }
                payloads.append((name, try zstd.compress(packBits(planes))))
            default:
                payloads.append((name, encodeAns(planes, T: tokens.t, D: bits, H: tokens.h, W: tokens.w)))
            }
        }
        guard var best = payloads.first else { throw TokenreelError("unknown payload coder '\(coder ?? "")'") }
        for p in payloads.dropFirst() where p.1.count < best.1.count { best = p }   // min(): the first smallest
        var header = meta
        header["grid"] = .array([.int(Int64(tokens.t)), .int(Int64(tokens.h)), .int(Int64(tokens.w))])
        header["coder"] = .string(best.0)
        let hb = Data(try JSONValue.object(header).pythonDumps().utf8)
        var body = Data(magic)
        body.append(contentsOf: [version, 0, 0, 0])     // version, flags, reserved u16
        appendLE(&body, UInt32(hb.count))
        body.append(hb)
        appendLE(&body, UInt64(best.1.count))
        body.append(best.1)
        let crc = crc32(body)
        appendLE(&body, crc)
        return body
    }

    /// Write atomically (Data.write(options: .atomic): a temp file, then rename). Returns the byte count.
    @discardableResult
    public static func write(_ url: URL, _ tokens: TokenGrid, meta: [String: JSONValue], coder: String? = nil,
                             zstd: ZstdEncoder? = nil) throws -> Int {
        let data = try pack(tokens, meta: meta, coder: coder, zstd: zstd)
        try data.write(to: url, options: .atomic)
        return data.count
    }

    // MARK: reading

    /// bytes -> (tokens (T, H, W), header). Every field is checked, in the documented order, before it
    /// sizes anything.
    public static func unpack(_ input: Data, where place: String = "token file",
                              zstd: ZstdDecoder? = nil) throws -> (TokenGrid, [String: JSONValue]) {
        let data = Data(input)   // indices from 0 even when given a slice
        func bad(_ why: String) -> TokenreelError {
            TokenreelError("\(place): \(why); re-encode the video with `tokenreel encode`")
        }
        guard data.count >= 16, Array(data[0..<4]) == magic else { throw bad("not a .trl token file (wrong magic bytes)") }
        let v = data[4]
        guard v == version else {
            throw bad(".trl version \(v) is not supported (this tokenreel reads version \(version))")
        }
        let hlen = Int(readLE(data, 8, as: UInt32.self))
        guard hlen <= maxHeader, 12 + hlen + 12 <= data.count else { throw bad("truncated or corrupt header") }
        guard crc32(data[0..<(data.count - 4)]) == readLE(data, data.count - 4, as: UInt32.self) else {
            throw bad("checksum mismatch: the file is truncated or corrupt")
        }
        let header: [String: JSONValue]
        let plen: UInt64
        let T: Int, H: Int, W: Int, D: Int
        do {
            guard let h = try JSONValue.parse(data[12..<(12 + hlen)]).objectValue else { throw bad("corrupt header (not a JSON object)") }
            header = h
            plen = readLE(data, 12 + hlen, as: UInt64.self)
            let missing = required.filter { header[$0] == nil }
            if !missing.isEmpty { throw bad("header lacks \(missing.joined(separator: ", "))") }
            guard let g = header["grid"]?.arrayValue, g.count == 3,
                  let t = g[0].intValue, let hh = g[1].intValue, let w = g[2].intValue,
                  let d = header["bits"]?.intValue else { throw bad("corrupt header (grid or bits)") }
            T = t; H = hh; W = w; D = d
        } catch let e as TokenreelError where e.message.hasPrefix(place) {
            throw e
        } catch {
            throw bad("corrupt header (\(error.localizedDescription))")
        }
        guard T > 0, H > 0, H <= maxGridSide, W > 0, W <= maxGridSide, D >= 1, D <= 24,
              T <= maxTokens / (H * W) else {   // T*H*W <= maxTokens without overflow
            throw bad("implausible token grid \(T)x\(H)x\(W) of \(D) bits")
        }
        let start = 12 + hlen + 8
        guard plen <= UInt64(data.count), start + Int(plen) + 4 == data.count else {
            throw bad("payload length does not match the file size")
        }
        guard let coder = header["coder"]?.stringValue, coders.contains(coder) else {
            let shown = try? header["coder"]?.pythonDumps()
            throw bad("unknown payload coder \(shown ?? "?")")
        }
        let payload = Data(data[start..<(start + Int(plen))])
        let planes: [UInt8]
        if coder == "zstd" {
            guard let zstd else {
                throw TokenreelError("\(place): the payload is zstd-compressed and this build has no Zstandard "
                                     + "decoder (Apple's Compression framework has none): pass a ZstdDecoder to "
                                     + "Trl.unpack, or re-encode the file with the ans-ctx coder "
                                     + "(`tokenreel encode` keeps the smaller; ans-ctx is the usual winner)")
            }
            do { planes = try decodeZstd(payload, T: T, D: D, H: H, W: W, zstd) } catch {
                throw bad("payload does not decode (\(error.localizedDescription))")
            }
        } else {
            do { planes = try decodeAns(payload, T: T, D: D, H: H, W: W) } catch {
                throw bad("payload does not decode (\(error.localizedDescription))")
            }
        }
        return (tokensOf(planes: planes, t: T, bits: D, h: H, w: W), header)
    }

    public static func read(_ url: URL, zstd: ZstdDecoder? = nil) throws -> (TokenGrid, [String: JSONValue]) {
        guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey]),
              values.isRegularFile == true, let size = values.fileSize else {
            throw TokenreelError("\(url.path): no such token file")
        }
        if size > 64 * maxTokens { throw TokenreelError("\(url.path): too large to be a .trl file") }
        return try unpack(try Data(contentsOf: url), where: url.path, zstd: zstd)
    }

    /// Bytes of the coded token payload in a packed .trl (what bits-per-pixel figures count).
    public static func payloadLength(_ data: Data) -> Int {
        let d = Data(data)
        let hlen = Int(readLE(d, 8, as: UInt32.self))
        return Int(readLE(d, 12 + hlen, as: UInt64.self))
    }

    // MARK: zstd payloads: bit planes packed MSB first (numpy.packbits), then one Zstandard frame

    static func packBits(_ planes: [UInt8]) -> Data {
        var out = Data(count: (planes.count + 7) / 8)
        for (k, b) in planes.enumerated() where b != 0 { out[k >> 3] |= UInt8(0x80) >> UInt8(k & 7) }
        return out
    }

    static func decodeZstd(_ payload: Data, T: Int, D: Int, H: Int, W: Int, _ zstd: ZstdDecoder) throws -> [UInt8] {
        let n = T * D * H * W
        let raw = Data(try zstd.decompress(payload, maxOutputSize: (n + 7) / 8))
        guard raw.count == (n + 7) / 8 else { throw TokenreelError("zstd payload has the wrong length") }
        return (0..<n).map { k in (raw[k >> 3] >> UInt8(7 - (k & 7))) & 1 }
    }
}

// MARK: - CRC-32 (zlib / ISO-HDLC, reflected polynomial 0xEDB88320)

let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

public func crc32<D: DataProtocol>(_ data: D) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for region in data.regions {
        for b in region { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    }
    return c ^ 0xFFFF_FFFF
}
