import Foundation

// Video <-> token grid through a tokenizer backend, streaming: one group of latent frames per call, so
// memory stays constant however long the video is (tokenreel/runtime/tokenizing.py).

public struct Encoded {
    public var tokens: TokenGrid   // (T', H', W')
    public var frames: Int         // real frames (the last group may have been padded by repeating the last frame)
}

/// (F) frames of (H, W, 3) uint8 -> (F, 3, H, W) float32 in [-1, 1].
public func toFloat(_ frames: [Frame]) -> Tensor {
    let (H, W) = (frames[0].height, frames[0].width)
    let hw = H * W
    var out = [Float](repeating: 0, count: frames.count * 3 * hw)
    for (f, frame) in frames.enumerated() {
        precondition(frame.width == W && frame.height == H, "frames of one call must share a size")
        for k in 0..<hw {
            for c in 0..<3 { out[(f * 3 + c) * hw + k] = Float(frame.rgb[k * 3 + c]) / 127.5 - 1 }
        }
    }
    return Tensor(shape: [frames.count, 3, H, W], data: out)
}

/// (F, 3, H, W) float in [-1, 1] -> (F) frames of (H, W, 3) uint8 (np.rint: halves to even).
public func toUInt8(_ frames: Tensor) -> [Frame] {
    let (F, H, W) = (frames.shape[0], frames.shape[2], frames.shape[3])
    let hw = H * W
    return (0..<F).map { f in
        var rgb = [UInt8](repeating: 0, count: hw * 3)
        for c in 0..<3 {
            for k in 0..<hw {
                let v = ((frames.data[(f * 3 + c) * hw + k] + 1) * 127.5).rounded(.toNearestOrEven)
                rgb[k * 3 + c] = UInt8(min(max(v, 0), 255))   // NaN would trap: the decoder does not give NaN
            }
        }
        return Frame(width: W, height: H, rgb: rgb)
    }
}

/// Cuts a frame stream into step calls: the first frame plus perCall-1 groups, then perCall groups at a
/// time; a short final list is padded by repeating the last frame up to whole groups.
public struct FrameGroups {
    let group: Int, perCall: Int
    var buf: [Frame] = [], first = true

    public init(group: Int, perCall: Int) { self.group = group; self.perCall = perCall }

    /// Adds a frame; returns a full call's frames when one is complete.
    public mutating func push(_ frame: Frame) -> [Frame]? {
        buf.append(frame)
        let lead = first ? 1 : 0
        if buf.count == lead + group * (perCall - lead) {
            defer { buf = []; first = false }
            return buf
        }
        return nil
    }

    /// The padded rest, or nil.
    public mutating func finish() -> [Frame]? {
        guard let last = buf.last else { return nil }
        let n = buf.count - (first ? 1 : 0)
        let pad = ((-n % group) + group) % group      // Python's (-n) % group
        defer { buf = [] }
        return buf + Array(repeating: last, count: pad)
    }
}

/// Frames from `next` (nil at the end) -> Encoded, or nil if there were no frames.
/// `progress(n)` is called after each call with the number of frames it took.
public func encodeFrames<B: TokenizerBackend>(_ backend: B, next: () throws -> Frame?,
                                              progress: ((Int) -> Void)? = nil) throws -> Encoded? {
    var groups = FrameGroups(group: backend.group, perCall: backend.latentsPerCall)
    var state: B.EncoderState? = nil
    var tokens: TokenGrid? = nil
    var real = 0
    func run(_ buf: [Frame]) throws {
        let (latent, newState) = try backend.encodeStep(toFloat(buf), state: state)
        state = newState
        let q = quantize(latent)
        tokens = tokens.map { $0.appending(q) } ?? q
        progress?(buf.count)
    }
    while let frame = try next() {
        real += 1
        if let buf = groups.push(frame) { try run(buf) }
    }
    if let buf = groups.finish() { try run(buf) }
    return tokens.map { Encoded(tokens: $0, frames: real) }
}

/// Frames a grid of `latentFrames` decodes to, the last group's padding included.
public func paddedFrames(latentFrames: Int, group: Int) -> Int { 1 + group * (latentFrames - 1) }

/// Whether decoded position `index` of an extended grid is kept in the video: the encoder filled the source's
/// last group by repeating its last frame, so positions [real, padded) are those repeats
/// (runtime/tokenizing.py `without_padding`).
public func keepsFrame(_ index: Int, real: Int, padded: Int) -> Bool { index < real || index >= padded }

/// Token positions around a held one that must repeat too (runtime/tokenizing.py `HOLD_RADIUS`).
public let holdRadius = 1

/// (H', W') row-major: the positions of `tokens` (one latent frame, t = 1) whose token, and every token within
/// `radius`, repeats `prevTokens`' (the previous latent frame); positions outside the grid count as repeated
/// (runtime/tokenizing.py `held_positions`). The decoder turns one latent frame into `group` frames that differ a
/// little even when nothing moves; where the tokens held still, the pixels should too.
public func heldPositions(_ tokens: TokenGrid, _ prevTokens: TokenGrid, radius: Int = holdRadius) -> [Bool] {
    precondition(tokens.t == 1 && prevTokens.t == 1 && tokens.h == prevTokens.h && tokens.w == prevTokens.w,
                 "held positions compare two latent frames of one size")
    let (h, w) = (tokens.h, tokens.w)
    var held = [Bool](repeating: true, count: h * w)
    for y in 0..<h { for x in 0..<w where tokens.data[y * w + x] != prevTokens.data[y * w + x] {
        for yy in max(0, y - radius)...min(h - 1, y + radius) {
            for xx in max(0, x - radius)...min(w - 1, x + radius) { held[yy * w + xx] = false }
        }
    } }
    return held
}

/// `frame` with the `spatial`-pixel blocks of the `held` token positions (of an h x w grid) taken from `last`.
func holdStill(_ frame: Frame, _ last: Frame, held: [Bool], h: Int, w: Int, spatial: Int) -> Frame {
    guard held.contains(true) else { return frame }
    precondition(frame.height == h * spatial && frame.width == w * spatial && last.width == frame.width
                 && last.height == frame.height, "held blocks: frames of \(frame.width)x\(frame.height) do not match \(h)x\(w) tokens")
    var out = frame
    for y in 0..<h { for x in 0..<w where held[y * w + x] {
        for dy in 0..<spatial {
            let at = ((y * spatial + dy) * frame.width + x * spatial) * 3
            out.rgb.replaceSubrange(at..<(at + spatial * 3), with: last.rgb[at..<(at + spatial * 3)])
        }
    } }
    return out
}

/// Decodes a (T', H', W') token grid one decoder call at a time: `next()` gives its uint8 frames in order, nil after
/// `frames` real frames (all when nil). tokenizing.py's `decode_tokens` generator, so that two grids can be decoded in
/// step (an extension and its draft). `hold` (`heldPositions`): in the frames of a latent frame after the first, the
/// pixel blocks whose tokens repeat the previous latent frame's are the previous frame's, like a codec's skip blocks;
/// false: the decoder's own frames.
public struct TokenDecoder<B: TokenizerBackend> {
    let backend: B, tokens: TokenGrid, frames: Int?, hold: Bool
    var state: B.DecoderState? = nil
    var t = 0, pending: [Frame] = []
    var call = 0, index = 0     // the pending frames' call began at latent frame `call`; the next is its frame `index`
    var last: Frame? = nil
    /// Frames given so far.
    public private(set) var emitted = 0

    public init(_ backend: B, _ tokens: TokenGrid, frames: Int? = nil, hold: Bool = true) {
        (self.backend, self.tokens, self.frames, self.hold) = (backend, tokens, frames, hold)
    }

    public mutating func next() throws -> Frame? {
        if let frames, emitted >= frames { return nil }
        while pending.isEmpty {
            guard t < tokens.t else { return nil }
            let chunk = tokens.slice(t..<min(t + backend.latentsPerCall, tokens.t), 0..<tokens.h, 0..<tokens.w)
            let (out, newState) = try backend.decodeStep(latentsOf(chunk, bits: backend.bits), state: state)
            state = newState
            pending = toUInt8(out).reversed()
            (call, index) = (t, 0)
            t += backend.latentsPerCall
        }
        var f = pending.removeLast()
        // the first call's first latent frame gives 1 frame, every other one a group
        let group = backend.group
        let latent = call == 0 ? (index + group - 1) / group : call + index / group
        index += 1
        if hold, latent > 0, let last {
            let (ys, xs) = (0..<tokens.h, 0..<tokens.w)
            let held = heldPositions(tokens.slice(latent..<(latent + 1), ys, xs), tokens.slice((latent - 1)..<latent, ys, xs))
            f = holdStill(f, last, held: held, h: tokens.h, w: tokens.w, spatial: backend.spatial)
        }
        last = f
        emitted += 1
        return f
    }
}

/// Decodes a (T', H', W') token grid, calling `emit` with each uint8 frame and stopping after `frames`
/// real frames (all when nil); `hold` as `TokenDecoder`'s. Returns how many frames were emitted.
@discardableResult
public func decodeTokens<B: TokenizerBackend>(_ backend: B, _ tokens: TokenGrid, frames: Int? = nil, hold: Bool = true,
                                              emit: (Frame) throws -> Void) throws -> Int {
    var decoder = TokenDecoder(backend, tokens, frames: frames, hold: hold)
    while let f = try decoder.next() { try emit(f) }
    return decoder.emitted
}
