import Foundation

// Decode token grids larger than a fixed-size exported decoder: overlapping tiles, blended in pixels
// (tokenreel/runtime/tiles.py). A decoder step exported for 128x224 frames cannot decode a reframed 9:16
// canvas in one call, so the canvas is covered by tiles of the decoder's size; each tile keeps its own
// causal state, and the overlaps are cross-faded with linear ramps so tile borders do not show as seams.
// Frames larger than a fixed-size exported encoder (a reframe's pixel draft) are encoded over such tiles,
// each latent position from the tile it lies deepest in.

public let tileMinOverlap = 4   // latent positions shared by neighbouring tiles (32 px at 8x)

/// Python's round(): halves go to the even neighbour.
@inline(__always) func pyRound(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }

/// Start offsets of windows of `size` covering [0, length), evenly spaced, overlapping >= minOverlap.
public func tileStarts(_ length: Int, _ size: Int, minOverlap: Int = tileMinOverlap) -> [Int] {
    if length <= size { return [0] }
    precondition(size > minOverlap, "a window of \(size) cannot overlap by \(minOverlap)")
    let n = Int((Double(length - size) / Double(size - minOverlap)).rounded(.up)) + 1
    return Set((0..<n).map { pyRound(Double($0 * (length - size)) / Double(n - 1)) }).sorted()
}

/// 1-D blend weights of a tile [start, start+size) in a line of `total`: ramps at inner edges only.
func ramp(start: Int, size: Int, total: Int, fade: Int) -> [Float] {
    var w = [Float](repeating: 1, count: size)
    for i in 0..<size {
        let d = Float(i) + 0.5, back = Float(size - 1 - i) + 0.5
        if start > 0 { w[i] = min(w[i], d / Float(fade)) }
        if start + size < total { w[i] = min(w[i], back / Float(fade)) }
    }
    return w
}

/// A tile's corner (y, x) in latent positions: the key of its causal state.
public struct TileCorner: Hashable {
    public let y: Int, x: Int
    public init(y: Int, x: Int) { self.y = y; self.x = x }
}

/// One decoder step over a latent grid (T', D, H, W) larger than `tile` (h, w).
///
/// step(latents tile, state) -> (frames (F, 3, h*s, w*s), state); states: nil at the start of a video,
/// then what this returned. -> (frames (F, 3, H*s, W*s), states).
public func decodeTiled<State>(_ step: (Tensor, State?) throws -> (Tensor, State), latents: Tensor,
                               states: [TileCorner: State]?, tile: (h: Int, w: Int), spatial: Int)
throws -> (Tensor, [TileCorner: State]) {
    let (T, D, H, W) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
    let (th, tw) = tile
    guard H >= th, W >= tw else { throw TokenreelError("latent grid \(H)x\(W) is smaller than the decoder tile \(th)x\(tw)") }
    var corners: [TileCorner] = []
    for y in tileStarts(H, th) { for x in tileStarts(W, tw) { corners.append(TileCorner(y: y, x: x)) } }
    let fade = tileMinOverlap * spatial
    let (PH, PW) = (H * spatial, W * spatial)
    var out: [Float] = [], weight = [Float](repeating: 0, count: PH * PW)
    var frameCount = 0
    var newStates: [TileCorner: State] = [:]
    for c in corners {
        // latents[..., y:y+th, x:x+tw]
        var sub = [Float](); sub.reserveCapacity(T * D * th * tw)
        for t in 0..<T { for i in 0..<D { for y in c.y..<(c.y + th) {
            let row = ((t * D + i) * H + y) * W
            sub.append(contentsOf: latents.data[(row + c.x)..<(row + c.x + tw)])
        } } }
        let (frames, state) = try step(Tensor(shape: [T, D, th, tw], data: sub), states?[c])
        newStates[c] = state
        let (fh, fw) = (th * spatial, tw * spatial)
        if out.isEmpty {
            frameCount = frames.shape[0]
            out = [Float](repeating: 0, count: frameCount * 3 * PH * PW)
        }
        let wy = ramp(start: c.y * spatial, size: fh, total: PH, fade: fade)
        let wx = ramp(start: c.x * spatial, size: fw, total: PW, fade: fade)
        for f in 0..<frameCount { for ch in 0..<3 { for y in 0..<fh {
            let src = ((f * 3 + ch) * fh + y) * fw
            let dst = ((f * 3 + ch) * PH + c.y * spatial + y) * PW + c.x * spatial
            for x in 0..<fw { out[dst + x] += frames.data[src + x] * (wy[y] * wx[x]) }
        } } }
        for y in 0..<fh { for x in 0..<fw { weight[(c.y * spatial + y) * PW + c.x * spatial + x] += wy[y] * wx[x] } }
    }
    for f in 0..<(frameCount * 3) { for k in 0..<(PH * PW) { out[f * PH * PW + k] /= weight[k] } }
    return (Tensor(shape: [frameCount, 3, PH, PW], data: out), newStates)
}

/// [(start, lo, hi)]: each tile of `tileStarts` and the span [lo, hi) it supplies, the overlaps split at their
/// middle (a position comes from the tile it lies deepest in; tiles.py `_owners`).
public func owners(_ length: Int, _ size: Int, minOverlap: Int = tileMinOverlap) -> [(start: Int, lo: Int, hi: Int)] {
    let starts = tileStarts(length, size, minOverlap: min(minOverlap, size / 2))   // a small tile overlaps by at most half
    let cuts = [0] + zip(starts, starts.dropFirst()).map { ($0 + $1 + size) / 2 } + [length]
    return starts.enumerated().map { (start: $0.element, lo: cuts[$0.offset], hi: cuts[$0.offset + 1]) }
}

/// One encoder step over frames (F, 3, H*s, W*s) larger than `tile` (h, w) latent positions: a reframe's canvas
/// drafted in pixels, on an encoder exported for the source's size.
///
/// step(frames tile, state) -> (latent (..., h, w), state); states: nil at the start of a video, then what this
/// returned. -> (latent (..., H, W), states). Each tile keeps its own causal state; a latent position comes from
/// the tile it lies deepest in, so it saw the most real surroundings (a tile's border positions saw zero padding).
public func encodeTiled<State>(_ step: (Tensor, State?) throws -> (Tensor, State), frames: Tensor,
                               states: [TileCorner: State]?, tile: (h: Int, w: Int), spatial: Int)
throws -> (Tensor, [TileCorner: State]) {
    let (F, C, PH, PW) = (frames.shape[0], frames.shape[1], frames.shape[2], frames.shape[3])
    let (H, W) = (PH / spatial, PW / spatial)
    let (th, tw) = tile
    guard H >= th, W >= tw else {
        throw TokenreelError("frames of \(W)x\(H) latent positions are smaller than the encoder tile \(tw)x\(th)")
    }
    let (fh, fw) = (th * spatial, tw * spatial)
    var out: [Float] = [], shape: [Int] = []
    var newStates: [TileCorner: State] = [:]
    for (y, yLo, yHi) in owners(H, th) {
        for (x, xLo, xHi) in owners(W, tw) {
            // frames[..., y*s:(y+th)*s, x*s:(x+tw)*s]
            var sub = [Float](); sub.reserveCapacity(F * C * fh * fw)
            for a in 0..<(F * C) { for row in 0..<fh {
                let start = (a * PH + y * spatial + row) * PW + x * spatial
                sub.append(contentsOf: frames.data[start..<(start + fw)])
            } }
            let c = TileCorner(y: y, x: x)
            let (latent, state) = try step(Tensor(shape: [F, C, fh, fw], data: sub), states?[c])
            newStates[c] = state
            let n = latent.shape.count, (lh, lw) = (latent.shape[n - 2], latent.shape[n - 1])
            if out.isEmpty {
                shape = Array(latent.shape.prefix(n - 2)) + [H, W]
                out = [Float](repeating: 0, count: shape.reduce(1, *))
            }
            for a in 0..<(latent.count / (lh * lw)) { for yy in yLo..<yHi { for xx in xLo..<xHi {
                out[(a * H + yy) * W + xx] = latent.data[(a * lh + yy - y) * lw + xx - x]
            } } }
        }
    }
    return (Tensor(shape: shape, data: out), newStates)
}

/// An encoder backend of a fixed frame size (an export) as one that takes larger frames: each step runs over
/// overlapping tiles of that size (`encodeTiled`); decoding is the backend's. Used for drafts only: tile borders
/// are not the server's tokens (tiles.py `TiledEncoder`).
public struct TiledEncoder<B: TokenizerBackend>: TokenizerBackend {
    public typealias EncoderState = [TileCorner: B.EncoderState]
    public typealias DecoderState = B.DecoderState
    public let backend: B
    /// (h, w) latent positions of the backend's frame size.
    public let tile: (h: Int, w: Int)
    public var tokenizerId: String { backend.tokenizerId }
    public var tokenizerSHA256: String { backend.tokenizerSHA256 }
    public var bits: Int { backend.bits }
    public var spatial: Int { backend.spatial }
    public var group: Int { backend.group }
    public var latentsPerCall: Int { backend.latentsPerCall }

    /// Tiles of `tile` (h, w) latent positions; nil: the backend's fixed frame size (an export).
    public init(_ backend: B, tile: (h: Int, w: Int)? = nil) throws {
        self.backend = backend
        if let tile = tile {
            self.tile = tile
        } else {
            guard let size = backend.frameSize else { throw TokenreelError("TiledEncoder: the encoder takes frames of any size") }
            self.tile = (h: size.height / backend.spatial, w: size.width / backend.spatial)
        }
    }

    public func encodeStep(_ frames: Tensor, state: EncoderState?) throws -> (Tensor, EncoderState) {
        try encodeTiled({ try backend.encodeStep($0, state: $1) }, frames: frames, states: state, tile: tile, spatial: spatial)
    }

    public func decodeStep(_ latents: Tensor, state: DecoderState?) throws -> (Tensor, DecoderState) {
        try backend.decodeStep(latents, state: state)
    }
}
