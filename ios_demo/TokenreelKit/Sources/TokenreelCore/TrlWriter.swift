import Foundation

/// Writes a version-2 `.trl` (docs/trl-format.md, "Version 2") as trl.TrlWriter writes it, byte for byte, into
/// `sink` as it goes: `append` latent frames as they come, `close` writes the rest and the end chunk. Chunks of
/// `chunkFrames` latent frames, each coded with the smaller of ans-wave and zstd that readers accept (`coder`
/// nil; ans-wave alone without a `zstd`), or with `coder`. Memory: the chunk being filled, the frame before it
/// and the counts.
public final class TrlWriter {
    let meta: [String: JSONValue], coder: String?, chunkFrames: Int, zstd: ZstdEncoder?, D: Int
    let sink: (Data) throws -> Void
    var state: TrlStream.State?
    var buffer: [(TokenGrid, Int)] = []
    var buffered = 0
    var crc: UInt32 = 0
    /// The chunks' coders so far, in the order first used (the header's `coder` a reader returns).
    public private(set) var coders: [String] = []
    public private(set) var bytes = 0
    var closed = false

    public init(meta: [String: JSONValue], coder: String? = nil, chunkFrames: Int = Trl.chunkFrames, zstd: ZstdEncoder? = nil,
                sink: @escaping (Data) throws -> Void) throws {
        if let coder, !Trl.chunkCoders.contains(coder) {
            throw TokenreelError("coder '\(coder)': a version-2 .trl chunk is \(Trl.chunkCoders.joined(separator: " or "))")
        }
        if coder == "zstd", zstd == nil { throw TokenreelError("writing zstd chunks needs a Zstandard encoder; none was given") }
        guard let bits = meta["bits"]?.intValue, (1...Trl.maxBits).contains(bits) else {
            throw TokenreelError("the .trl header needs an int 'bits' from 1 to \(Trl.maxBits)")
        }
        guard (1...0xffff).contains(chunkFrames) else { throw TokenreelError("chunkFrames \(chunkFrames): 1 to 65535") }
        (self.meta, self.coder, self.chunkFrames, self.zstd, self.D, self.sink) = (meta, coder, chunkFrames, zstd, bits, sink)
        _ = try header(H: 1, W: 1)              // the header is checked now, not at the first chunk
    }

    /// Add latent frames that stand for `frames` video frames (a file's first latent frame 1, every later one 4).
    public func append(_ tokens: TokenGrid, frames: Int) throws {
        precondition(!closed, "the .trl is closed")
        guard tokens.t >= 1 else { throw TokenreelError("latent frames must be (n, H, W), n >= 1") }
        guard tokens.data.allSatisfy({ $0 >= 0 && Int($0) < 1 << D }) else { throw TokenreelError("tokens outside [0, 2^\(D))") }
        let (H, W) = (tokens.h, tokens.w)
        if state == nil {
            guard (1...Trl.maxGridSide).contains(H), (1...Trl.maxGridSide).contains(W) else {
                throw TokenreelError("a \(H)x\(W) token frame: sides of 1 to \(Trl.maxGridSide)")
            }
            try put(header(H: H, W: W))
            state = TrlStream.State(H: H, W: W, D: D, keep: false)
        } else if H != state!.H || W != state!.W {
            throw TokenreelError("a \(H)x\(W) token frame in a file of \(state!.H)x\(state!.W)")
        }
        guard (state!.T + buffered + tokens.t) * H * W <= Trl.maxTokens, state!.frames + frames <= Trl.maxFrames else {
            throw TokenreelError("more than a .trl holds (\(Trl.maxTokens) tokens); encode a shorter or smaller clip")
        }
        buffer.append((tokens, frames))
        buffered += tokens.t
        while buffered >= chunkFrames { try chunk(chunkFrames) }
    }

    /// Code what is buffered, write the end chunk -> bytes written.
    @discardableResult
    public func close() throws -> Int {
        if closed { return bytes }
        guard state != nil else { throw TokenreelError("nothing to write (no latent frames)") }
        while buffered > 0 { try chunk(chunkFrames) }
        let s = state!
        guard s.frames >= 1 else { throw TokenreelError("a .trl stands for at least 1 video frame") }
        try put(Self.record(TrlStream.kindEnd, 0, 0, s.T, s.frames, s.chunks))
        closed = true
        return bytes
    }

    /// The version-2 file header of a grid of H x W tokens, checked as readers check it (trl._stream_header).
    func header(H: Int, W: Int) throws -> Data {
        var header = meta.filter { !Trl.fileFields.contains($0.key) }
        header["grid_hw"] = .array([.int(Int64(H)), .int(Int64(W))])
        let hb = Data(try JSONValue.object(header).pythonDumps().utf8)
        guard hb.count <= Trl.maxHeader else { throw TokenreelError("cannot write a .trl: its header is \(hb.count) bytes, more than \(Trl.maxHeader)") }
        let written: JSONValue
        do { written = try Trl.parseHeader(hb) } catch {
            throw TokenreelError("cannot write a .trl: its header would not read back (\(error.localizedDescription))")
        }
        _ = try Trl.checkSchema(written, where: "cannot write a .trl", hint: false, required: Trl.requiredStream)
        var d = Data(Trl.magic)
        d.append(contentsOf: [Trl.versionStream, 0, 0, 0])    // version, flags, reserved u16
        appendLE(&d, UInt32(hb.count))
        d.append(hb)
        return d
    }

    /// Code the first n buffered latent frames (all if fewer) as one chunk, splitting a batch as the format maps frames.
    func chunk(_ n: Int) throws {
        var s = state!
        let (H, W, plane) = (s.H, s.W, s.H * s.W)
        let count = min(n, buffered)
        var data: [Int32] = [], frames = 0
        while data.count < count * plane {
            var (tokens, f) = buffer.removeFirst()
            let got = data.count / plane
            if got + tokens.t > count {             // a batch split in two: its head's frames, the rest's
                let head = min(f, Self.frameStart(s.T + count) - Self.frameStart(s.T + got)), k = count - got
                buffer.insert((TokenGrid(t: tokens.t - k, h: H, w: W, data: Array(tokens.data[(k * plane)...])), f - head), at: 0)
                (tokens, f) = (TokenGrid(t: k, h: H, w: W, data: Array(tokens.data[..<(k * plane)])), head)
            }
            data += tokens.data
            frames += f
        }
        guard s.chunks < Trl.maxChunks else { throw TokenreelError("more than \(Trl.maxChunks) chunks; write larger chunks") }
        let take = TokenGrid(t: count, h: H, w: W, data: data)
        let packed = Trl.packBits(toPlanes(take, bits: D))
        // the smaller that readers accept of those tried, ans-wave on a tie (trl._encode_chunk)
        var best: (name: String, payload: Data, counts: [Int])?
        for name in coder.map({ [$0] }) ?? Trl.chunkCoders {
            let payload: Data, counts: [Int]
            if name == "ans-wave" {
                (payload, counts) = AnsWave.encodeRun(take, D: D, prev: s.prev, counts: s.counts)
            } else {
                guard let zstd else { continue }        // ans-wave alone without a Zstandard encoder
                (payload, counts) = (try zstd.compress(packed), s.counts)
            }
            let ok = payload.count <= Trl.maxChunkPayload(n: count, D: D, H: H, W: W)
                && (name != "ans-wave" || s.admits(count, payload.count))
            if ok, best == nil || payload.count < best!.payload.count { best = (name, payload, counts) }
        }
        guard let best else {
            throw TokenreelError("the \(coder ?? "ans-wave") payload of a \(count)x\(H)x\(W) chunk would be refused by readers "
                                 + "(over the cost bound of \(Trl.ansTokensPerByte) tokens a byte, or a wave a byte); write it with zstd")
        }
        if best.name == "ans-wave" {               // the counts carry on from ans-wave chunks only
            s.counts = best.counts
            s.spend(count, best.payload.count)
        }
        var record = Self.record(TrlStream.kindFrames, UInt8(1 + Trl.chunkCoders.firstIndex(of: best.name)!), count, frames,
                                 Int(Trl.planesCrc32(packed, T: count, D: D, H: H, W: W)), best.payload.count)
        record.append(best.payload)
        try put(record)
        s.done(data, count, frames)
        state = s
        buffered -= count
        if !coders.contains(best.name) { coders.append(best.name) }
    }

    /// A record's 16 bytes before its payload: kind, coder, n (u16), then three u32.
    static func record(_ kind: UInt8, _ coder: UInt8, _ n: Int, _ a: Int, _ b: Int, _ c: Int) -> Data {
        var d = Data([kind, coder])
        appendLE(&d, UInt16(n))
        for v in [a, b, c] { appendLE(&d, UInt32(truncatingIfNeeded: v)) }
        return d
    }

    /// Write `data`, then the CRC-32 of every byte of the file before that field.
    func put(_ data: Data) throws {
        var sealed = data
        appendLE(&sealed, crc32(data, continuing: crc))
        try sink(sealed)
        crc = crc32(sealed, continuing: crc)
        bytes += sealed.count
    }

    /// The first video frame of latent frame t: frame f is in latent frame 0 if f = 0, else 1 + (f - 1) div 4.
    static func frameStart(_ t: Int) -> Int { t == 0 ? 0 : 1 + 4 * (t - 1) }

    /// Video frames of latent frames [t0, t1) of a T-frame grid that stands for `frames` (trl._chunk_frames).
    static func chunkFrames(_ frames: Int, _ t0: Int, _ t1: Int, _ T: Int) -> Int {
        max(0, (t1 == T ? frames : min(frames, frameStart(t1))) - min(frames, frameStart(t0)))
    }
}

extension Trl {
    /// tokens -> the bytes of the version-2 .trl `write` writes (trl.pack_stream): chunks of `chunkFrames` latent
    /// frames, the video frames meta["frames"] says (default: every position of the grid) split among them.
    public static func packStream(_ tokens: TokenGrid, meta: [String: JSONValue], coder: String? = nil,
                                  chunkFrames: Int = Trl.chunkFrames, zstd: ZstdEncoder? = nil) throws -> Data {
        guard tokens.t >= 1 else { throw TokenreelError("tokens must be (T, H, W), T >= 1") }
        var out = Data()
        let w = try TrlWriter(meta: meta, coder: coder, chunkFrames: chunkFrames, zstd: zstd) { out.append($0) }
        let frames = meta["frames"]?.intValue ?? TrlWriter.frameStart(tokens.t)
        let plane = tokens.h * tokens.w
        for t0 in stride(from: 0, to: tokens.t, by: chunkFrames) {
            let t1 = min(tokens.t, t0 + chunkFrames)
            try w.append(TokenGrid(t: t1 - t0, h: tokens.h, w: tokens.w, data: Array(tokens.data[(t0 * plane)..<(t1 * plane)])),
                         frames: TrlWriter.chunkFrames(frames, t0, t1, tokens.t))
        }
        try w.close()
        return out
    }
}
