import Foundation

// The `.trl` token file (docs/trl-format.md, tokenreel/runtime/trl.py): versions 1 and 2 are read (version 2,
// the stream of chunks `tokenreel encode` writes, in TrlStream.swift); `write` writes version 2 (TrlWriter.swift),
// `pack` version 1 (as trl.pack: the golden files).
//
//     magic "\x89TRL" | version u8 | flags u8 | reserved u16 | header_len u32 | header (UTF-8 JSON)
//     | payload_len u64 | payload | crc32 u32 (zlib CRC-32 of every byte before it)
//
// All integers little-endian. The payload holds the token grid as bit planes, coded by "ans-wave"
// (AnsWave.swift) or "ans-ctx" (AnsCoder.swift), both written here byte for byte as Python writes them,
// or "zstd". Apple's Compression
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
    // the limits of docs/trl-format.md, "Limits for readers (all ports)": trl.py's constants of the same names
    public static let maxHeaderDepth = 8         // JSON nesting (the known fields need 2)
    public static let maxTokens = 1 << 23        // T*H*W: 32 MiB of int32 tokens; ~10 min of 30 fps video at 256x448
    public static let maxGridSide = 1024
    public static let maxBits = 24
    public static let maxFrames = 4 * maxTokens + 1
    public static let ansTokensPerByte = 16      // ans-ctx, ans-wave: T*H*W <= 16 * payload bytes + 16384 (one coder call a token)
    public static let ansFreeTokens = 1 << 14
    public static let wavesPerByte = 1           // ans-wave also: W + H + 2T - 3 waves <= payload bytes + 1024 (a coder
    public static let freeWaves = 1 << 10        // call each, whatever its size: a T x 1 x 1 grid is T waves of one token)
    /// The largest file a reader reads: the largest payload a writer makes for the largest grid, plus the header.
    public static let maxFile = 12 + maxHeader + 8 + maxPayload(T: maxTokens, D: maxBits, H: 1, W: 1) + 4

    /// Bytes of the packed bit planes of a grid (the zstd coder's decompressed size).
    public static func rawLength(T: Int, D: Int, H: Int, W: Int) -> Int { (T * D * H * W + 7) / 8 }

    /// The longest payload either coder writes for a grid (trl.max_payload); readers refuse longer ones.
    public static func maxPayload(T: Int, D: Int, H: Int, W: Int) -> Int {
        let raw = rawLength(T: T, D: D, H: H, W: W)
        return raw + raw / 256 + 4096
    }

    /// The ANS coders' cost must be justified by the payload (trl.ans_admissible): at most ansTokensPerByte
    /// tokens a payload byte beyond ansFreeTokens (ans-ctx decodes one token per coder call) and, for
    /// ans-wave, at most wavesPerByte waves beyond freeWaves (one coder call each, whatever its size).
    public static func ansAdmissible(T: Int, H: Int, W: Int, payloadLength: Int, coder: String = "ans-ctx") -> Bool {
        T * H * W <= ansTokensPerByte * payloadLength + ansFreeTokens
            && (coder != "ans-wave" || AnsWave.waves(T: T, H: H, W: W) <= wavesPerByte * payloadLength + freeWaves)
    }
    public static let coders = ["zstd", "ans-ctx", "ans-wave"]
    public static let ansCoders = ["ans-ctx", "ans-wave"]
    /// What the writer tries unless asked (trl.DEFAULT_CODERS), in its order: on equal sizes the first is kept.
    public static let defaultCoders = ["ans-wave", "zstd"]
    public static let required = ["tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder"]
    /// A version-2 file header's required fields (trl.REQUIRED_STREAM).
    public static let requiredStream = ["tokenizer", "tokenizer_sha256", "grid_hw", "bits", "fps", "size"]

    // MARK: the header, as a schema

    // JSON integers only (.int: 18.0 is not one), finite numbers, lengths in Unicode scalars (Python's len)
    static func int(_ v: JSONValue, _ lo: Int64, _ hi: Int64) -> Bool { if case .int(let x) = v { return lo <= x && x <= hi }; return false }
    static func ints(_ v: JSONValue, _ n: Int, _ lo: Int64, _ hi: Int64) -> Bool {
        guard let a = v.arrayValue, a.count == n else { return false }
        return a.allSatisfy { int($0, lo, hi) }
    }
    static func string(_ v: JSONValue, _ least: Int, _ most: Int) -> Bool {
        guard let s = v.stringValue else { return false }
        return (least...most).contains(s.unicodeScalars.count)
    }
    static func grid(_ v: JSONValue) -> Bool {
        guard ints(v, 3, 1, Int64(maxTokens)), case let .array(g) = v, case .int(let t) = g[0], case .int(let h) = g[1],
              case .int(let w) = g[2] else { return false }
        return h <= maxGridSide && w <= maxGridSide && t * h * w <= maxTokens   // h, w first: no overflow
    }

    /// trl.py's _FIELDS, in its order, so that every reader names the same field first: (key, what it must be, check).
    static let fields: [(key: String, what: String, ok: (JSONValue) -> Bool)] = [
        ("tokenizer", "a string of 1 to 256 characters", { string($0, 1, 256) }),
        ("tokenizer_sha256", "64 lowercase hex digits",
         { v in v.stringValue.map { $0.utf8.count == 64 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } } ?? false }),
        ("grid", "[T, H, W] of integers, H and W at most \(maxGridSide), T*H*W at most \(maxTokens) tokens", grid),
        ("grid_hw", "[H, W] of integers from 1 to \(maxGridSide)", { ints($0, 2, 1, Int64(maxGridSide)) }),
        ("bits", "an integer from 1 to \(maxBits)", { int($0, 1, Int64(maxBits)) }),
        ("coder", "zstd, ans-ctx or ans-wave", { $0.stringValue.map(coders.contains) ?? false }),
        ("fps", "a number from 0.01 to 1000", { $0.doubleValue.map { (0.01...1000).contains($0) } ?? false }),
        ("frames", "an integer from 1 to \(maxFrames)", { int($0, 1, Int64(maxFrames)) }),
        ("size", "[width, height], 1 to \(8 * maxGridSide) px", { ints($0, 2, 1, Int64(8 * maxGridSide)) }),
        ("source_size", "[width, height], 1 to 65536 px", { ints($0, 2, 1, 1 << 16) }),
        ("resize", "a string of at most 1024 characters", { string($0, 0, 1024) }),
        ("planes_crc32", "an integer from 0 to 2^32 - 1", { int($0, 0, Int64(UInt32.max)) }),
    ]

    /// Validate a parsed header as the schema of docs/trl-format.md (trl.check_header) -> its grid, bits and
    /// coder. The one place header fields are checked; nothing reads them before.
    public static func checkHeader(_ header: JSONValue, where place: String = "token file", hint: Bool = true) throws
        -> (T: Int, H: Int, W: Int, D: Int, coder: String) {
        let h = try checkSchema(header, where: place, hint: hint, required: required)
        let g = h["grid"]!.arrayValue!.map { $0.intValue! }
        return (g[0], g[1], g[2], h["bits"]!.intValue!, h["coder"]!.stringValue!)
    }

    /// The schema with a version's required keys (trl.check_header's `required`) -> the header's fields.
    static func checkSchema(_ header: JSONValue, where place: String, hint: Bool, required: [String]) throws -> [String: JSONValue] {
        func bad(_ why: String) -> TokenreelError {
            TokenreelError("\(place): \(why)" + (hint ? "; re-encode the video with `tokenreel encode`" : ""))
        }
        guard let h = header.objectValue else { throw bad("corrupt header (not a JSON object)") }
        let missing = required.filter { h[$0] == nil }
        if !missing.isEmpty { throw bad("header lacks \(missing.joined(separator: ", "))") }
        for f in fields {
            if let v = h[f.key], !f.ok(v) { throw bad("header field '\(f.key)' is \(show(v)); it must be \(f.what)") }
        }
        return h
    }

    static func show(_ v: JSONValue) -> String {
        let text = (try? v.pythonDumps()) ?? "?"
        return text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    /// A header's JSON as readers take it: strict UTF-8 and JSON, at most maxHeaderDepth deep.
    static func parseHeader(_ bytes: Data) throws -> JSONValue { try JSONValue.parse(bytes, maxDepth: maxHeaderDepth, strict: true) }

    // MARK: writing

    /// tokens (T, H, W) -> the bytes of a .trl file. meta: the header fields except grid/coder
    /// (tokenizer, tokenizer_sha256, bits, fps, frames, size, source_size, resize).
    /// coder nil: the smaller of defaultCoders' payloads (ans-wave, and zstd given an encoder), as trl.pack.
    public static func pack(_ tokens: TokenGrid, meta: [String: JSONValue], coder: String? = nil,
                            zstd: ZstdEncoder? = nil) throws -> Data {
        guard let bits = meta["bits"]?.intValue, bits >= 1, bits <= maxBits else {
            throw TokenreelError("the .trl header needs an int 'bits' from 1 to \(maxBits)")
        }
        guard tokens.t * tokens.h * tokens.w <= maxTokens else {
            throw TokenreelError("a grid of \(tokens.t)x\(tokens.h)x\(tokens.w) tokens is more than a .trl holds "
                                 + "(\(maxTokens) tokens); encode a shorter or smaller clip")
        }
        if let coder, !coders.contains(coder) { throw TokenreelError("unknown payload coder '\(coder)'") }
        let (T, H, W) = (tokens.t, tokens.h, tokens.w)
        let planes = toPlanes(tokens, bits: bits)
        var payloads: [(String, Data)] = []
        for name in coder.map({ [$0] }) ?? defaultCoders {
            let payload: Data
            switch name {
            case "zstd":
                guard let zstd else {
                    if coder == "zstd" { throw TokenreelError("writing a zstd .trl needs a Zstandard encoder; none was given") }
                    continue
                }
                payload = try zstd.compress(packBits(planes))
            case "ans-ctx": payload = encodeAns(planes, T: T, D: bits, H: H, W: W)
            default: payload = AnsWave.encode(tokens, bits: bits)
            }
            // an ANS payload over its cost bound (a very redundant grid) would be refused by readers
            if payload.count <= maxPayload(T: T, D: bits, H: H, W: W),
               !ansCoders.contains(name) || ansAdmissible(T: T, H: H, W: W, payloadLength: payload.count, coder: name) {
                payloads.append((name, payload))
            }
        }
        guard var best = payloads.first else {
            throw TokenreelError("the \(coder ?? "ans-wave") payload of this \(T)x\(H)x\(W) grid would be refused by readers "
                                 + "(over the cost bound of \(ansTokensPerByte) tokens a byte, or a wave a byte); write it with zstd")
        }
        for p in payloads.dropFirst() where p.1.count < best.1.count { best = p }   // min(): the first smallest
        var header = meta
        // planes_crc32 is computed from the grid written here, never carried over from a source header
        header["planes_crc32"] = .int(Int64(planesCrc32(packBits(planes), T: tokens.t, D: bits, H: tokens.h, W: tokens.w)))
        header["grid"] = .array([.int(Int64(tokens.t)), .int(Int64(tokens.h)), .int(Int64(tokens.w))])
        header["coder"] = .string(best.0)
        let hb = Data(try JSONValue.object(header).pythonDumps().utf8)
        // checked as a reader checks it: the writer never writes a file readers refuse
        guard hb.count <= maxHeader else { throw TokenreelError("cannot write a .trl: its header is \(hb.count) bytes, more than \(maxHeader)") }
        let written: JSONValue
        do { written = try parseHeader(hb) } catch {
            throw TokenreelError("cannot write a .trl: its header would not read back (\(error.localizedDescription))")
        }
        _ = try checkHeader(written, where: "cannot write a .trl", hint: false)
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

    /// Write a version-2 .trl atomically (trl.write; Data.write(options: .atomic): a temp file, then rename) ->
    /// the byte count. coder "ans-ctx" writes a version-1 file (a version-2 chunk is ans-wave or zstd).
    @discardableResult
    public static func write(_ url: URL, _ tokens: TokenGrid, meta: [String: JSONValue], coder: String? = nil,
                             zstd: ZstdEncoder? = nil) throws -> Int {
        let data = coder == "ans-ctx" ? try pack(tokens, meta: meta, coder: coder, zstd: zstd)
            : try packStream(tokens, meta: meta, coder: coder, zstd: zstd)
        try data.write(to: url, options: .atomic)
        return data.count
    }

    // MARK: reading

    /// bytes -> (tokens (T, H, W), header). Every field is checked, in the documented order, before it
    /// sizes anything. The header has the file's fields and grid, frames, coder. A version-2 file must be
    /// complete; `partial`: a version-2 file cut short or corrupt gives the tokens of every complete chunk
    /// before the fault instead of an error, and the header says what was recovered: version, complete,
    /// chunks and, when incomplete, why it stopped (`stopped`), as trl.unpack(data, partial=True). A file whose
    /// own header is bad is an error either way.
    public static func unpack(_ input: Data, where place: String = "token file", zstd: ZstdDecoder? = nil,
                              partial: Bool = false) throws -> (TokenGrid, [String: JSONValue]) {
        let data = Data(input)   // indices from 0 even when given a slice
        func bad(_ why: String) -> TokenreelError {
            TokenreelError("\(place): \(why); re-encode the video with `tokenreel encode`")
        }
        guard data.count >= 5, Array(data[0..<4]) == magic, !(data[4] == version && data.count < 24) else {
            throw bad("not a .trl token file (wrong magic bytes)")
        }
        let v = data[4]
        if v == versionStream { return try TrlStream.read([UInt8](data), where: place, zstd: zstd, partial: partial) }
        guard v == version else {
            throw bad(".trl version \(v) is not supported (this reader reads versions \(version) and \(versionStream))")
        }
        var (tokens, header) = try unpackV1(data, where: place, zstd: zstd)
        if partial { header["version"] = .int(Int64(version)); header["complete"] = .bool(true); header["chunks"] = .int(1) }
        return (tokens, header)
    }

    /// A version-1 file's bytes (magic and version checked) -> (tokens, header).
    static func unpackV1(_ data: Data, where place: String, zstd: ZstdDecoder?) throws -> (TokenGrid, [String: JSONValue]) {
        func bad(_ why: String) -> TokenreelError {
            TokenreelError("\(place): \(why); re-encode the video with `tokenreel encode`")
        }
        let hlen = Int(readLE(data, 8, as: UInt32.self))
        guard hlen <= maxHeader, 12 + hlen + 12 <= data.count else { throw bad("truncated or corrupt header") }
        guard crc32(data[0..<(data.count - 4)]) == readLE(data, data.count - 4, as: UInt32.self) else {
            throw bad("checksum mismatch: the file is truncated or corrupt")
        }
        let parsed: JSONValue
        do { parsed = try parseHeader(data[12..<(12 + hlen)]) } catch {
            throw bad("corrupt header (\(error.localizedDescription))")
        }
        let (T, H, W, D, coder) = try checkHeader(parsed, where: place)
        let header = parsed.objectValue!
        let plen = readLE(data, 12 + hlen, as: UInt64.self)
        let start = 12 + hlen + 8
        guard plen <= UInt64(data.count), start + Int(plen) + 4 == data.count else {
            throw bad("payload length does not match the file size")
        }
        guard Int(plen) <= maxPayload(T: T, D: D, H: H, W: W) else {
            throw bad("a \(plen)-byte payload is longer than any coder writes for a \(T)x\(H)x\(W) grid")
        }
        if ansCoders.contains(coder), !ansAdmissible(T: T, H: H, W: W, payloadLength: Int(plen), coder: coder) {
            throw bad("a \(plen)-byte \(coder) payload cannot hold a \(T)x\(H)x\(W) grid")
        }
        let payload = Data(data[start..<(start + Int(plen))])
        var planes: [UInt8] = []
        var raw: Data? = nil          // the packed planes, when the coder had them (zstd)
        var grid: TokenGrid? = nil    // the tokens, when the coder had them (ans-wave)
        if coder == "zstd" {
            guard let zstd else {
                throw TokenreelError("\(place): the payload is zstd-compressed and this build has no Zstandard "
                                     + "decoder (Apple's Compression framework has none): pass a ZstdDecoder to "
                                     + "Trl.unpack, or re-encode the file with the ans-wave coder "
                                     + "(`tokenreel encode` keeps the smaller; ans-wave is the usual winner)")
            }
            do { (planes, raw) = try decodeZstd(payload, T: T, D: D, H: H, W: W, zstd) } catch {
                throw bad("payload does not decode (\(error.localizedDescription))")
            }
        } else {
            do {
                if coder == "ans-ctx" { planes = try decodeAns(payload, T: T, D: D, H: H, W: W) } else {
                    grid = try AnsWave.decode(payload, T: T, D: D, H: H, W: W)
                    if header["planes_crc32"] != nil { planes = toPlanes(grid!, bits: D) }
                }
            } catch {
                throw bad("payload does not decode (\(error.localizedDescription))")
            }
        }
        if case .int(let stated)? = header["planes_crc32"] {   // checkHeader: 0 to 2^32 - 1
            if planesCrc32(raw ?? packBits(planes), T: T, D: D, H: H, W: W) != UInt32(stated) {
                throw bad("the payload does not belong to this header (planes_crc32 differs)")
            }
        }
        return (grid ?? tokensOf(planes: planes, t: T, bits: D, h: H, w: W), header)
    }

    /// The header's planes_crc32 (trl.planes_crc32): CRC-32 of T, H, W, D (u32 little-endian each), then
    /// the packed bit planes. It binds the payload to the header: another file's payload, or this one read
    /// as another shape of the same size, differs.
    public static func planesCrc32(_ packed: Data, T: Int, D: Int, H: Int, W: Int) -> UInt32 {
        var shape = Data()
        for v in [T, H, W, D] { appendLE(&shape, UInt32(truncatingIfNeeded: v)) }
        return crc32(packed, continuing: crc32(shape))
    }

    /// The .trl at `url`, as `unpack`: read with a bound (never sized by the file's size alone), so that a
    /// file still being written can be read with `partial`.
    public static func read(_ url: URL, zstd: ZstdDecoder? = nil, partial: Bool = false) throws -> (TokenGrid, [String: JSONValue]) {
        guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey]),
              values.isRegularFile == true, let size = values.fileSize else {
            throw TokenreelError("\(url.path): no such token file")
        }
        let limit = max(maxFile, maxFileStream)
        func tooLarge(_ n: Int) -> TokenreelError {
            TokenreelError("\(url.path): \(n) bytes, larger than any .trl token file (\(limit) bytes at most)")
        }
        if size > limit { throw tooLarge(size) }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: limit + 1) ?? Data()
        } catch {
            throw TokenreelError("\(url.path): cannot read the token file (\(error.localizedDescription))")
        }
        if data.count > limit { throw tooLarge(data.count) }
        let stream = data.count >= 5 && Array(data.prefix(4)) == magic && data[data.startIndex + 4] == versionStream
        if !stream, data.count > maxFile {
            throw TokenreelError("\(url.path): larger than any .trl token file of version \(version) (\(maxFile) bytes at most)")
        }
        return try unpack(data, where: url.path, zstd: zstd, partial: partial)
    }

    /// Bytes of the coded token payload in a packed .trl (what bits-per-pixel figures count): a version-2
    /// file's chunk payloads together (trl.payload_length).
    public static func payloadLength(_ data: Data) -> Int {
        let d = Data(data)
        let hlen = Int(readLE(d, 8, as: UInt32.self))
        guard d[4] == versionStream else { return Int(readLE(d, 12 + hlen, as: UInt64.self)) }
        var at = 12 + hlen + 4, total = 0
        while at + 16 <= d.count, d[at] == 0x46 {       // 'F'
            let plen = Int(readLE(d, at + 12, as: UInt32.self))
            total += plen
            at += 16 + plen + 4
        }
        return total
    }

    // MARK: zstd payloads: bit planes packed MSB first (numpy.packbits), then one Zstandard frame

    public static func packBits(_ planes: [UInt8]) -> Data {
        var out = Data(count: (planes.count + 7) / 8)
        for (k, b) in planes.enumerated() where b != 0 { out[k >> 3] |= UInt8(0x80) >> UInt8(k & 7) }
        return out
    }

    /// One Zstandard frame that declares exactly the packed planes' size (checked before decompressing),
    /// nothing after it, zero padding bits -> (the bit planes, the packed planes as decompressed).
    static func decodeZstd(_ payload: Data, T: Int, D: Int, H: Int, W: Int, _ zstd: ZstdDecoder) throws -> ([UInt8], Data) {
        let n = T * D * H * W, bytes = rawLength(T: T, D: D, H: H, W: W)
        let declared = try zstdFrame(payload)
        guard declared == UInt64(bytes) else {
            throw TokenreelError("the Zstandard frame declares \(declared.map { String($0) } ?? "no") content size; "
                                 + "the grid needs \(bytes) bytes")
        }
        let raw = Data(try zstd.decompress(payload, maxOutputSize: bytes))
        guard raw.count == bytes else { throw TokenreelError("the zstd payload has the wrong length") }
        let pad = 8 * bytes - n
        if pad > 0, raw[bytes - 1] & UInt8((1 << pad) - 1) != 0 {
            throw TokenreelError("the packed planes' padding bits are not zero")
        }
        return ((0..<n).map { k in (raw[k >> 3] >> UInt8(7 - (k & 7))) & 1 }, raw)
    }

    /// Walk one Zstandard frame's header and block headers (RFC 8878 3.1.1) without decompressing ->
    /// its Frame_Content_Size (nil when not declared); throws unless the payload is exactly one frame.
    public static func zstdFrame(_ p: Data) throws -> UInt64? {
        let b = [UInt8](p)
        func le(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        guard b.count >= 6, le(0, 4) == 0xFD2F_B528 else { throw TokenreelError("not a Zstandard frame") }
        let fhd = b[4]
        let single = fhd & 0x20 != 0, checksum = fhd & 0x04 != 0
        guard fhd & 0x08 == 0 else { throw TokenreelError("not a Zstandard frame (reserved bit set)") }
        var pos = 5 + (single ? 0 : 1) + [0, 1, 2, 4][Int(fhd & 3)]
        let fcsSize = [single ? 1 : 0, 2, 4, 8][Int(fhd >> 6)]
        guard pos + fcsSize <= b.count else { throw TokenreelError("a truncated Zstandard frame header") }
        let declared: UInt64? = fcsSize == 0 ? nil : le(pos, fcsSize) + (fcsSize == 2 ? 256 : 0)
        pos += fcsSize
        while true {
            guard pos + 3 <= b.count else { throw TokenreelError("a truncated Zstandard frame") }
            let block = le(pos, 3)
            let size = Int(block >> 3)
            switch (block >> 1) & 3 {
            case 0, 2: pos += 3 + size      // raw, compressed: Block_Size bytes follow
            case 1: pos += 3 + 1            // RLE: one byte
            default: throw TokenreelError("a Zstandard block of the reserved type")
            }
            guard pos <= b.count else { throw TokenreelError("a truncated Zstandard frame") }
            if block & 1 != 0 { break }
        }
        pos += checksum ? 4 : 0
        guard pos <= b.count else { throw TokenreelError("a truncated Zstandard frame") }
        guard pos == b.count else { throw TokenreelError("\(b.count - pos) bytes after the Zstandard frame") }
        return declared
    }
}

// MARK: - CRC-32 (zlib / ISO-HDLC, reflected polynomial 0xEDB88320)
//
// Written out here because Foundation has no CRC-32 (on Linux or Apple platforms) and zlib is not an
// importable module for a plain SwiftPM target on Linux; the file's crc32 and the header's planes_crc32
// are both this CRC (Python's zlib.crc32, java.util.zip.CRC32).

let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC-32 of data; `continuing` a previous CRC gives the CRC of the concatenation (zlib.crc32(data, start)).
public func crc32<D: DataProtocol>(_ data: D, continuing start: UInt32 = 0) -> UInt32 {
    var c: UInt32 = start ^ 0xFFFF_FFFF
    for region in data.regions {
        for b in region { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    }
    return c ^ 0xFFFF_FFFF
}
