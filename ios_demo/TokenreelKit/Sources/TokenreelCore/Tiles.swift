import Foundation

// Decode token grids larger than a fixed-size exported decoder: overlapping tiles, blended in pixels
// (tokenreel/runtime/tiles.py). A decoder step exported for 128x224 frames cannot decode a reframed 9:16
// canvas in one call, so the canvas is covered by tiles of the decoder's size; each tile keeps its own
// causal state, and the overlaps are cross-faded with linear ramps so tile borders do not show as seams.

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
