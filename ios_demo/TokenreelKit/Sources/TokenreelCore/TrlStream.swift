import Foundation

// The reader of version-2 `.trl` files (docs/trl-format.md, "Version 2: a stream of chunks"; trl.py's
// _read_stream / _read_chunk, whose checks, order and messages it keeps):
//
//     file header: magic | version 2 | flags | reserved u16 | header_len u32 | header JSON | crc32 u32
//     chunks:      'F' | coder u8 | n u16 | frames u32 | planes_crc32 u32 | payload_len u32 | payload | crc32
//     end chunk:   'E' | 0 u8 | 0 u16 | T u32 | frames u32 | chunks u32 | crc32
//
// every crc32 the CRC-32 of all the file's bytes before it. Each record is checked before it is used (kind,
// coder, n, the chunk and token limits, payload_len against its bound, the ans-wave cost bounds summed over
// the file's ans-wave chunks, the payload present, its crc32) and only then decoded (ending exactly at its
// end) and compared with its planes_crc32. ans-wave chunks carry the frame before and the counts over from
// chunk to chunk. Only a file that ends exactly with an end chunk whose totals match is complete; a partial
// read returns every complete chunk before the first one missing, cut or bad.

extension Trl {
    public static let versionStream: UInt8 = 2
    public static let maxChunks = 1 << 16          // chunks a version-2 file
    public static let maxChunkSlack = 64           // a chunk's payload <= its packed planes + 1/256 + 64
    public static let chunkFrames = 16             // latent frames a chunk when writing: 64 video frames, ~2 s at 30 fps
    /// A version-2 chunk's coder byte is 1 + its index here (trl.CHUNK_CODERS).
    public static let chunkCoders = ["ans-wave", "zstd"]
    /// Fields a reader derives and returns, never taken from a version-2 file's JSON (trl.FILE_FIELDS).
    public static let fileFields = ["grid", "grid_hw", "frames", "coder", "planes_crc32", "version", "complete", "chunks", "stopped"]

    /// The longest payload a version-2 chunk of n latent frames may have (trl.max_chunk_payload).
    public static func maxChunkPayload(n: Int, D: Int, H: Int, W: Int) -> Int {
        let raw = rawLength(T: n, D: D, H: H, W: W)
        return raw + raw / 256 + maxChunkSlack
    }

    /// The largest version-2 file: the largest payloads plus 84 bytes a chunk (trl.MAX_FILE_STREAM, ~30.8 MB).
    public static let maxFileStream = 16 + maxHeader + maxChunks * (16 + 4 + maxChunkSlack)
        + rawLength(T: maxTokens, D: maxBits, H: 1, W: 1) * 257 / 256 + 16 + 4
}

enum TrlStream {
    static let kindFrames: UInt8 = 0x46       // 'F'
    static let kindEnd: UInt8 = 0x45          // 'E'
    static let record = 16                    // a record's bytes before its payload (an end chunk's before its crc32)

    /// Where a version-2 file stops being readable, and why (trl.py's _Stop); `noZstd`: a zstd chunk with
    /// no Zstandard decoder supplied (a partial read stops there, a strict one says so).
    struct Stop: Error {
        let why: String
        var noZstd: Int? = nil
    }

    /// The file's bytes in order, at most Trl.maxFileStream of them, with the CRC-32 of all read so far (trl._Reader).
    struct Reader {
        let data: [UInt8]
        let end: Int
        var pos = 0
        var crc: UInt32 = 0

        init(_ data: [UInt8]) {
            self.data = data
            end = min(data.count, Trl.maxFileStream)
        }

        /// Up to n bytes from pos (fewer only at the end of the file) -> how many were read.
        mutating func take(_ n: Int) -> Int {
            let got = min(n, end - pos)
            crc = crc32(data[pos..<(pos + got)], continuing: crc)
            pos += got
            return got
        }

        /// Read a crc32 field -> "ok", "short" (the file ends in it) or "bad" (not the CRC of what came before).
        mutating func sealed() -> String {
            let expected = crc, at = pos
            return take(4) < 4 ? "short" : u32(data, at) == expected ? "ok" : "bad"
        }
    }

    /// What chunks carry from one to the next (trl._Coding): the frame before, the ans-wave counts (learnt
    /// only from ans-wave chunks), the cost budget of the file's ans-wave chunks (trl._Budget), the totals, for
    /// reader and writer alike; `keep`: hold every chunk's tokens (the reader's).
    struct State {
        let H: Int, W: Int, D: Int
        var prev: [Int32]? = nil
        var counts: [Int]
        var T = 0, frames = 0, chunks = 0
        var coders: [String] = []
        var tokens: [Int32] = []
        var budgetTokens = 0, budgetWaves = 0, budgetPayload = 0
        var keep = true

        init(H: Int, W: Int, D: Int, keep: Bool = true) {
            self.H = H; self.W = W; self.D = D; self.keep = keep
            counts = AnsWave.freshCounts(D: D)
        }

        /// The ANS cost bounds over the file's ans-wave chunks so far, this one of n frames and plen bytes included.
        func admits(_ n: Int, _ plen: Int) -> Bool {
            budgetTokens + n * H * W <= Trl.ansTokensPerByte * (budgetPayload + plen) + Trl.ansFreeTokens
                && budgetWaves + AnsWave.waves(T: n, H: H, W: W) <= Trl.wavesPerByte * (budgetPayload + plen) + Trl.freeWaves
        }

        mutating func spend(_ n: Int, _ plen: Int) {
            budgetTokens += n * H * W
            budgetWaves += AnsWave.waves(T: n, H: H, W: W)
            budgetPayload += plen
        }

        mutating func done(_ chunk: [Int32], _ n: Int, _ f: Int) {
            if keep { tokens.append(contentsOf: chunk) }
            prev = Array(chunk[((n - 1) * H * W)...])
            T += n
            frames += f
            chunks += 1
        }
    }

    /// A version-2 file's bytes (magic and version checked) -> (tokens, header), as trl.unpack(data, partial).
    static func read(_ data: [UInt8], where place: String, zstd: ZstdDecoder?, partial: Bool) throws
        -> (TokenGrid, [String: JSONValue]) {
        func bad(_ why: String) -> TokenreelError {
            TokenreelError("\(place): \(why); re-encode the video with `tokenreel encode`")
        }
        var r = Reader(data)
        let hlen = r.take(12) == 12 ? Int(u32(data, 8)) : Trl.maxHeader + 1
        let got = hlen <= Trl.maxHeader ? r.take(hlen) : 0
        guard got == hlen, r.sealed() == "ok" else { throw bad("truncated or corrupt version 2 header (length or checksum)") }
        let parsed: JSONValue
        do { parsed = try Trl.parseHeader(Data(data[12..<(12 + hlen)])) } catch {
            throw bad("corrupt version 2 header (\(error.localizedDescription))")
        }
        let json = try Trl.checkSchema(parsed, where: place, hint: true, required: Trl.requiredStream)
        let hw = json["grid_hw"]!.arrayValue!.map { $0.intValue! }, (H, W) = (hw[0], hw[1])
        var s = State(H: H, W: W, D: json["bits"]!.intValue!)
        var stopped: Stop? = nil
        do {
            while try chunk(&r, &s, zstd) {}
        } catch let e as Stop {
            stopped = e
        }
        var header = json.filter { !Trl.fileFields.contains($0.key) }
        header["grid"] = .array([.int(Int64(s.T)), .int(Int64(H)), .int(Int64(W))])
        header["frames"] = .int(Int64(s.frames))
        header["coder"] = .string(s.coders.joined(separator: "+"))
        if let stopped, !partial {
            if let k = stopped.noZstd {
                throw TokenreelError("\(place): chunk \(k) is zstd-compressed and this build has no Zstandard decoder "
                                     + "(Apple's Compression framework has none): pass a ZstdDecoder to Trl.unpack")
            }
            throw TokenreelError("\(place): incomplete .trl: \(stopped.why); \(s.chunks) complete chunk\(s.chunks == 1 ? "" : "s") "
                                 + "(\(s.T) latent frames, \(s.frames) frames) can be read with `tokenreel decode --partial`")
        }
        if partial {
            header["version"] = .int(Int64(Trl.versionStream))
            header["complete"] = .bool(stopped == nil)
            header["chunks"] = .int(Int64(s.chunks))
            if let stopped { header["stopped"] = .string(stopped.why) }
        }
        return (TokenGrid(t: s.T, h: H, w: W, data: s.tokens), header)
    }

    /// The next record: a frames chunk decoded into s (true), a valid end chunk (false), or Stop.
    static func chunk(_ r: inout Reader, _ s: inout State, _ zstd: ZstdDecoder?) throws -> Bool {
        let k = s.chunks + 1, at = r.pos
        let got = r.take(record)
        guard got == record else {
            throw Stop(why: got == 0 ? "the file ends without an end chunk (cut short, or still being written)" : "the file ends in chunk \(k)")
        }
        let d = r.data
        let kind = d[at], coder = Int(d[at + 1]), n = Int(d[at + 2]) | Int(d[at + 3]) << 8
        let frames = Int(u32(d, at + 4)), crc = u32(d, at + 8), plen = Int(u32(d, at + 12))
        if kind == kindEnd {
            let check = r.sealed()
            guard check == "ok" else { throw Stop(why: "the end chunk is \(check == "short" ? "cut short" : "corrupt (checksum)")") }
            // T, frames, chunks sit where a frames chunk has frames, planes_crc32, payload_len
            guard frames == s.T, Int(crc) == s.frames, plen == s.chunks, coder == 0, n == 0, s.frames >= 1 else {
                throw Stop(why: "the end chunk's totals (\(frames) latent frames, \(crc) frames, \(plen) chunks) are not the file's")
            }
            guard r.take(1) == 0 else { throw Stop(why: "bytes after the end chunk") }
            return false
        }
        let (H, W, D) = (s.H, s.W, s.D)
        guard kind == kindFrames, (1...Trl.chunkCoders.count).contains(coder), n >= 1 else {
            throw Stop(why: "chunk \(k) is corrupt (kind \(pythonByte(kind)), coder \(coder), \(n) latent frames)")
        }
        let name = Trl.chunkCoders[coder - 1]
        guard k <= Trl.maxChunks, (s.T + n) * H * W <= Trl.maxTokens, s.frames + frames <= Trl.maxFrames else {
            throw Stop(why: "chunk \(k) takes the file past the limits (\(Trl.maxChunks) chunks, \(Trl.maxTokens) tokens)")
        }
        guard plen <= Trl.maxChunkPayload(n: n, D: D, H: H, W: W) else {
            throw Stop(why: "chunk \(k): a \(plen)-byte payload is longer than any coder writes for \(n)x\(H)x\(W) tokens")
        }
        guard name != "ans-wave" || s.admits(n, plen) else {
            throw Stop(why: "chunk \(k): a \(plen)-byte ans-wave payload cannot hold \(n)x\(H)x\(W) tokens")
        }
        let start = r.pos
        let check = r.take(plen) < plen ? "short" : r.sealed()
        guard check == "ok" else { throw Stop(why: check == "short" ? "the file ends in chunk \(k)" : "chunk \(k) is corrupt (checksum)") }
        let payload = Data(d[start..<(start + plen)])
        let tokens: [Int32], planes: Data
        do {
            if name == "zstd" {
                guard let zstd else {
                    throw Stop(why: "chunk \(k) is zstd-compressed and this build has no Zstandard decoder", noZstd: k)
                }
                let (bits, raw) = try Trl.decodeZstd(payload, T: n, D: D, H: H, W: W, zstd)
                (tokens, planes) = (tokensOf(planes: bits, t: n, bits: D, h: H, w: W).data, raw)
            } else {
                let (grid, counts) = try AnsWave.decodeRun(payload, T: n, D: D, H: H, W: W, prev: s.prev, counts: s.counts)
                s.spend(n, plen)
                s.counts = counts
                (tokens, planes) = (grid.data, Trl.packBits(toPlanes(grid, bits: D)))
            }
        } catch let e as Stop {
            throw e
        } catch {
            throw Stop(why: "chunk \(k) does not decode (\((error as? TokenreelError)?.message ?? "\(error)"))")
        }
        guard Trl.planesCrc32(planes, T: n, D: D, H: H, W: W) == crc else {
            throw Stop(why: "chunk \(k) does not decode to its planes (planes_crc32 differs)")
        }
        if !s.coders.contains(name) { s.coders.append(name) }
        s.done(tokens, n, frames)
        return true
    }

    static func u32(_ d: [UInt8], _ at: Int) -> UInt32 {
        UInt32(d[at]) | UInt32(d[at + 1]) << 8 | UInt32(d[at + 2]) << 16 | UInt32(d[at + 3]) << 24
    }

    /// A byte as Python's repr of a one-byte bytes object (b'F', b'\x00'), which trl.py's messages show.
    static func pythonByte(_ b: UInt8) -> String {
        let hex = Array("0123456789abcdef")
        switch b {
        case 0x27: return "b\"'\""
        case 0x5c: return "b'\\\\'"
        case 0x09: return "b'\\t'"
        case 0x0a: return "b'\\n'"
        case 0x0d: return "b'\\r'"
        case 0x20...0x7e: return "b'\(Character(Unicode.Scalar(b)))'"
        default: return "b'\\x\(hex[Int(b >> 4)])\(hex[Int(b & 15)])'"
        }
    }
}
