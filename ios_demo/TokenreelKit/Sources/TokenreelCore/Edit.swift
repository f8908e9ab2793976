import Foundation

// Token-space edits: reframe and extend, over windows of the transformer's fixed size
// (tokenreel/runtime/edit.py). A transformer backend answers one question: logits for a window of
// sub-tokens. Everything else — which windows, in what order, what is known, the drafts, the sampler — is here.
//
// Samplers: "revise" (the default) starts every window from a draft that is already as good as the best
// trivial edit — the last known latent frame copied forward for extend, the source's edge pixels replicated into
// the margins and encoded for reframe (`outpaintPixelDraft`; its tokens mirrored where there are no pixels,
// `outpaintDraft`) — and lets the model re-predict only the drafted tokens it rates unlikely;
// "maskgit" starts from all-[MASK] (MaskGIT).

public let maxExtendFrames = 3000     // frames one `extend` may add (100 s at 30 fps)
public let maxCanvasSide = 256        // tokens on a side of a reframed canvas
/// Per edit: drafted tokens rated this far (nats, summed over sub-tokens) below the model's top choice are
/// redone. An extension's copied frames are worth keeping unless the model is sure, a reframe's mirrored
/// margins rarely are (edit.py's REVISE_THRESHOLD, chosen on validation clips).
public let reviseThreshold: (reframe: Double, extend: Double) = (reframe: 2.0, extend: 12.0)

public enum EditSampler: String, CaseIterable {
    case revise, maskgit

    /// revise: MaskGIT steps after the call that scores the draft (0: that call redoes the draft itself).
    public var defaultSteps: Int { self == .revise ? 0 : 12 }
}

/// steps, or the sampler's default when nil; refused below 0 for revise, below 1 for maskgit (edit.py's
/// `check_sampler`).
func checkSteps(_ sampler: EditSampler, _ steps: Int?) throws -> Int {
    let n = steps ?? sampler.defaultSteps
    let least = sampler == .revise ? 0 : 1
    if n < least {
        throw TokenreelError("--steps \(n): must be \(least == 0 ? "0 or more" : "at least 1") for --sampler \(sampler.rawValue)")
    }
    return n
}

public func parseAspect(_ text: String) throws -> (w: Int, h: Int) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2,
          let w = Int(parts[0].trimmingCharacters(in: .whitespaces)),
          let h = Int(parts[1].trimmingCharacters(in: .whitespaces)), w > 0, h > 0 else {
        throw TokenreelError("--aspect '\(text)': give W:H with positive integers, e.g. 9:16")
    }
    return (w, h)
}

/// Fill the unknown tokens of a grid (T, H, W) exactly the window's size -> (tokens, transformer calls).
/// With a `draft` (same shape) the window is revised from it (`reviseDecode`, redoing the drafted tokens rated
/// more than `threshold` below the top; a draft needs one), else MaskGIT from masks.
public func fill(_ backend: some TransformerBackend, _ tokens: TokenGrid, _ known: KnownGrid, steps: Int, seed: Int64,
                 progress: ((Int) -> Void)? = nil, draft: TokenGrid? = nil,
                 threshold: Double? = nil) throws -> (TokenGrid, Int) {
    if known.data.allSatisfy({ $0 }) { return (tokens, 0) }
    var calls = 0
    let logits = { (sub: [Int64]) throws -> [Float] in
        calls += 1
        return try backend.logits(sub)
    }
    let out: [Int32]
    if let draft {
        guard let threshold else { throw TokenreelError("a draft needs a threshold (reviseThreshold)") }
        out = try reviseDecode(logits: logits, tokens: tokens.data, known: known.data, draft: draft.data,
                               splits: backend.splits, subBits: backend.subBits, maskId: backend.maskId, steps: steps,
                               seed: seed, threshold: threshold, progress: progress)
    } else {
        out = try maskgitDecode(logits: logits, tokens: tokens.data, known: known.data, splits: backend.splits,
                                subBits: backend.subBits, maskId: backend.maskId, steps: steps, seed: seed,
                                progress: progress)
    }
    return (TokenGrid(t: tokens.t, h: tokens.h, w: tokens.w, data: out), calls)
}

/// Fill every unknown token of a (T, H, W) canvas of any size with windows of the backend's size
/// -> (canvas, transformer calls). `draft`: a draft for every position (revise, with `threshold` as in `fill`),
/// or nil (MaskGIT).
///
/// Windows run over time first (each later time window keeps its first latent frames from the previous
/// one), and within a time span over space, the windows with the most known tokens first (ties by (y0, x0)),
/// so generation grows outward from what is known.
/// The seed of a window is seed*1000003 + w*4099 + y0*131 + x0 (wrapping, as Python's int masked to 64 bits).
public func fillCanvas(_ backend: some TransformerBackend, _ canvasIn: TokenGrid, _ knownIn: KnownGrid, steps: Int,
                       seed: Int64, progress: ((Int) -> Void)? = nil,
                       draft: TokenGrid? = nil, threshold: Double? = nil) throws -> (TokenGrid, Int) {
    let (WT, WH, WW) = (backend.window.t, backend.window.h, backend.window.w)
    let (T, H, W) = (canvasIn.t, canvasIn.h, canvasIn.w)
    if H < WH || W < WW || T < 1 {
        throw TokenreelError("the token grid \(T)x\(H)x\(W) is smaller than the model's window \(WT)x\(WH)x\(WW); "
                             + "encode at a larger --size")
    }
    var canvas = canvasIn, known = knownIn
    var calls = 0
    let timeStarts = T >= WT ? tileStarts(T, WT, minOverlap: 1) : [0]
    for (wIndex, t0) in timeStarts.enumerated() {
        let ts = t0..<min(t0 + WT, T)
        var remaining: [(Int, Int)] = []
        for y0 in tileStarts(H, WH) { for x0 in tileStarts(W, WW) { remaining.append((y0, x0)) } }
        remaining.sort { $0 < $1 }   // Python iterates sorted(remaining); max keeps the first best
        while !remaining.isEmpty {
            func knownCount(_ yx: (Int, Int)) -> Int {
                var c = 0
                for t in ts { for y in yx.0..<(yx.0 + WH) { for x in yx.1..<(yx.1 + WW) where known[t, y, x] { c += 1 } } }
                return c
            }
            var best = 0, bestCount = knownCount(remaining[0])
            for i in 1..<remaining.count {
                let c = knownCount(remaining[i])
                if c > bestCount { best = i; bestCount = c }
            }
            let (y0, x0) = remaining.remove(at: best)
            let ys = y0..<(y0 + WH), xs = x0..<(x0 + WW)
            var win = canvas.slice(ts, ys, xs), kn = known.slice(ts, ys, xs)
            // the draft where unknown, the canvas (source and what earlier windows generated) where known
            var dr = draft.map { d in
                let cut = d.slice(ts, ys, xs)
                return TokenGrid(t: cut.t, h: cut.h, w: cut.w, data: (0..<cut.data.count).map { kn.data[$0] ? win.data[$0] : cut.data[$0] })
            }
            if win.t < WT {  // a video shorter than the window: pad time with masked frames
                let pad = WT - win.t
                win = win.appending(TokenGrid(t: pad, h: WH, w: WW, repeating: 0))
                kn = kn.appending(KnownGrid(t: pad, h: WH, w: WW, repeating: false))
                if let d = dr {  // (drafted as the last frame, copied)
                    let last = d.slice((d.t - 1)..<d.t, 0..<WH, 0..<WW)
                    dr = (0..<pad).reduce(d) { g, _ in g.appending(last) }
                }
            }
            if !kn.data.allSatisfy({ $0 }) {
                let windowSeed = seed &* 1_000_003 &+ Int64(wIndex) &* 4099 &+ Int64(y0) &* 131 &+ Int64(x0)
                let (out, c) = try fill(backend, win, kn, steps: steps, seed: windowSeed, progress: progress, draft: dr,
                                        threshold: threshold)
                let deferred = deferredPositions(y0: y0, x0: x0, canvasH: H, canvasW: W, windowH: WH, windowW: WW,
                                                 later: remaining)
                for t in ts { for y in 0..<WH { for x in 0..<WW where !deferred[y * WW + x] {
                    canvas[t, y0 + y, x0 + x] = out[t - t0, y, x]
                    known[t, y0 + y, x0 + x] = true
                } } }
                calls += c
            }
        }
    }
    return (canvas, calls)
}

/// Generated tokens this close to a window's inner side wait for a later window (runtime/edit.py EDGE).
public let edgeTokens = 2

/// (windowH * windowW) flags: the positions of window (y0, x0) within `edgeTokens` of a side that faces more
/// canvas and that one of the `later` windows covers; they are left for that window, which sees them with
/// context all round (runtime/edit.py `_deferred`).
public func deferredPositions(y0: Int, x0: Int, canvasH: Int, canvasW: Int, windowH: Int, windowW: Int,
                              later: [(Int, Int)]) -> [Bool] {
    var out = [Bool](repeating: false, count: windowH * windowW)
    for y in 0..<windowH {
        for x in 0..<windowW {
            let edge = (y0 > 0 && y < edgeTokens) || (y0 + windowH < canvasH && y >= windowH - edgeTokens)
                || (x0 > 0 && x < edgeTokens) || (x0 + windowW < canvasW && x >= windowW - edgeTokens)
            guard edge else { continue }
            let (cy, cx) = (y0 + y, x0 + x)
            out[y * windowW + x] = later.contains { cy >= $0.0 && cy < $0.0 + windowH && cx >= $0.1 && cx < $0.1 + windowW }
        }
    }
    return out
}

/// Centre-crop the token grid to the aspect W:H (no model): lossless in token space.
public func reframeCrop(_ tokens: TokenGrid, aspect: String) throws -> TokenGrid {
    let (aw, ah) = try parseAspect(aspect)
    let (H, W) = (tokens.h, tokens.w)
    let newW: Int, newH: Int
    if W * ah > H * aw {     // too wide: keep the height
        newW = max(1, pyRound(Double(H * aw) / Double(ah))); newH = H
    } else {
        newW = W; newH = max(1, pyRound(Double(W * ah) / Double(aw)))
    }
    let y0 = (H - newH) / 2, x0 = (W - newW) / 2
    return tokens.slice(0..<tokens.t, y0..<(y0 + newH), x0..<(x0 + newW))
}

/// (canvas height, canvas width, y0, x0) in tokens: the smallest canvas of aspect W:H that holds a source of
/// height x width whole, the source in its middle at (y0, x0).
public func outpaintBox(height H: Int, width W: Int, aspect: String) throws -> (h: Int, w: Int, y0: Int, x0: Int) {
    let (aw, ah) = try parseAspect(aspect)
    let newW: Int, newH: Int
    if W * ah > H * aw {     // source wider than the target: grow the height
        newW = W; newH = pyRound(Double(W * ah) / Double(aw))
    } else {
        newW = pyRound(Double(H * aw) / Double(ah)); newH = H
    }
    if max(newW, newH) > maxCanvasSide {
        throw TokenreelError("--aspect \(aspect): the canvas would be \(newW)x\(newH) tokens, over the "
                             + "\(maxCanvasSide) limit; choose an aspect closer to the source's")
    }
    return (newH, newW, (newH - H) / 2, (newW - W) / 2)
}

/// Place the source in the middle of the smallest canvas of aspect W:H that holds it whole.
public func outpaintCanvas(_ tokens: TokenGrid, aspect: String) throws -> (TokenGrid, KnownGrid) {
    let (T, H, W) = (tokens.t, tokens.h, tokens.w)
    let (newH, newW, y0, x0) = try outpaintBox(height: H, width: W, aspect: aspect)
    var canvas = TokenGrid(t: T, h: newH, w: newW, repeating: 0)
    var known = KnownGrid(t: T, h: newH, w: newW, repeating: false)
    canvas.assign(tokens, t0: 0, y0: y0, x0: x0)
    known.fill(0..<T, y0..<(y0 + H), x0..<(x0 + W), with: true)
    return (canvas, known)
}

/// Source token rows/columns along a generated margin that are generated again (runtime/edit.py).
public let sourceEdgeTokens = 1

/// `known` less the source's outermost `sourceEdgeTokens` rows and columns along a generated margin: the
/// encoder saw zero padding past the frame's border, so those tokens decode to a seam next to real
/// surroundings; the model generates them again with context on both sides.
public func sourceEdgesRegenerated(_ known: KnownGrid) -> KnownGrid {
    var out = known
    var rowKnown = [Bool](repeating: false, count: known.h), colKnown = [Bool](repeating: false, count: known.w)
    for t in 0..<known.t { for y in 0..<known.h { for x in 0..<known.w where known[t, y, x] { rowKnown[y] = true; colKnown[x] = true } } }
    guard let top = rowKnown.firstIndex(of: true), let bottom = rowKnown.lastIndex(of: true),
          let left = colKnown.firstIndex(of: true), let right = colKnown.lastIndex(of: true) else { return out }
    var cutRows = Set<Int>(), cutCols = Set<Int>()
    if top > 0 { cutRows.formUnion(top..<min(known.h, top + sourceEdgeTokens)) }
    if bottom < known.h - 1 { cutRows.formUnion(max(0, bottom + 1 - sourceEdgeTokens)...bottom) }
    if left > 0 { cutCols.formUnion(left..<min(known.w, left + sourceEdgeTokens)) }
    if right < known.w - 1 { cutCols.formUnion(max(0, right + 1 - sourceEdgeTokens)...right) }
    for t in 0..<known.t { for y in 0..<known.h { for x in 0..<known.w where cutRows.contains(y) || cutCols.contains(x) {
        out[t, y, x] = false
    } } }
    return out
}

/// The source (T, H, W) placed at (y0, x0) of a canvas (T, canvasH, canvasW) and mirrored into the margins
/// around it: numpy's pad(mode="symmetric"), the edge row repeated once and then the reflection continuing;
/// where a margin is wider than the source the reflections repeat (period 2 * side).
public func mirrorDraft(canvasH: Int, canvasW: Int, _ tokens: TokenGrid, y0: Int, x0: Int) -> TokenGrid {
    var out = TokenGrid(t: tokens.t, h: canvasH, w: canvasW, repeating: 0)
    for t in 0..<tokens.t { for y in 0..<canvasH { for x in 0..<canvasW {
        out[t, y, x] = tokens[t, mirror(y - y0, tokens.h), mirror(x - x0, tokens.w)]
    } } }
    return out
}

/// np.pad(mode="symmetric") as an index: position `p` relative to a side's start -> an index into its `n`.
func mirror(_ p: Int, _ n: Int) -> Int {
    let m = ((p % (2 * n)) + 2 * n) % (2 * n)
    return m < n ? m : 2 * n - 1 - m
}

/// The revise sampler's draft of a reframed canvas in token space (before any padding to the window): the source's
/// tokens mirrored into the margins (for a clip with no pixels to draft from: `outpaintPixelDraft` is the better draft).
public func outpaintDraft(_ tokens: TokenGrid, aspect: String) throws -> TokenGrid {
    let (h, w, y0, x0) = try outpaintBox(height: tokens.h, width: tokens.w, aspect: aspect)
    return mirrorDraft(canvasH: h, canvasW: w, tokens, y0: y0, x0: x0)
}

/// The revise sampler's draft of a reframed canvas from pixels -> (T, canvas H, canvas W) tokens: the clip's frames
/// from `frames` (nil at the end; `grid` [T, H, W] tokens' worth) with their edge pixels replicated into the margins
/// (np.pad(mode="edge") around the source's place) and the canvas encoded (`encodeFrames`). Tokens copied are not
/// pictures continued (a source's edge tokens describe the frame's border); replicated, not mirrored: a mirror copies
/// the clip's objects into the margins. An encoder exported for one frame
/// size (`TokenizerBackend.frameSize`) runs over tiles of it (`TiledEncoder`); a canvas smaller than that size is
/// drafted larger, then cut (edit.py `outpaint_pixel_draft`).
public func outpaintPixelDraft<B: TokenizerBackend>(_ tokenizer: B, frames next: () throws -> Frame?, grid: [Int],
                                                    aspect: String) throws -> TokenGrid {
    let (T, H, W) = (grid[0], grid[1], grid[2])
    let box = try outpaintBox(height: H, width: W, aspect: aspect)
    let s = tokenizer.spatial
    // tiles of the clip's own size on every backend (an export's frame size where it differs), as Python's
    // outpaint_pixel_draft: the server and the exports draft alike
    let tile = tokenizer.frameSize.map { (h: $0.height / s, w: $0.width / s) } ?? (h: H, w: W)
    let growH = max(0, tile.h - box.h), growW = max(0, tile.w - box.w)
    let top = (box.y0 + growH / 2) * s, bottom = (box.h + growH - box.y0 - growH / 2 - H) * s
    let left = (box.x0 + growW / 2) * s, right = (box.w + growW - box.x0 - growW / 2 - W) * s
    func replicated() throws -> Frame? {
        guard let f = try next() else { return nil }
        let (outH, outW) = (top + f.height + bottom, left + f.width + right)
        let xs = (0..<outW).map { min(max($0 - left, 0), f.width - 1) }
        var rgb = [UInt8](repeating: 0, count: outH * outW * 3)
        for y in 0..<outH {
            let row = min(max(y - top, 0), f.height - 1) * f.width
            for (x, sx) in xs.enumerated() {
                let (src, dst) = ((row + sx) * 3, (y * outW + x) * 3)
                rgb[dst] = f.rgb[src]; rgb[dst + 1] = f.rgb[src + 1]; rgb[dst + 2] = f.rgb[src + 2]
            }
        }
        return Frame(width: outW, height: outH, rgb: rgb)
    }
    let encoded = try encodeFrames(TiledEncoder(tokenizer, tile: tile), next: replicated)
    guard let encoded, encoded.tokens.t == T else {
        throw TokenreelError("outpaintPixelDraft: the frames give \(encoded?.tokens.t ?? 0) latent frames, the clip has \(T)")
    }
    return encoded.tokens.slice(0..<T, (growH / 2)..<(growH / 2 + box.h), (growW / 2)..<(growW / 2 + box.w))
}

/// -> (canvas tokens, transformer calls): the source centred on a canvas of the aspect, the margins generated.
/// `draft`: the revise sampler's draft of the whole canvas (`outpaintPixelDraft`); nil: `outpaintDraft`.
public func reframeOutpaint(_ backend: some TransformerBackend, _ tokens: TokenGrid, aspect: String, steps: Int? = nil,
                            seed: Int64 = 0, progress: ((Int) -> Void)? = nil,
                            sampler: EditSampler = .revise, draft: TokenGrid? = nil) throws -> (TokenGrid, Int) {
    let steps = try checkSteps(sampler, steps)
    var (canvas, known) = try outpaintCanvas(tokens, aspect: aspect)
    known = sourceEdgesRegenerated(known)
    if let draft, draft.shape != canvas.shape {
        throw TokenreelError("reframeOutpaint: a draft of \(draft.shape) for a canvas of \(canvas.shape)")
    }
    // grow the canvas to at least one window, keeping the source centred, then cut back
    let (T, H, W) = (canvas.t, canvas.h, canvas.w)
    let ph = max(0, backend.window.h - H), pw = max(0, backend.window.w - W)
    canvas = canvas.padded(top: ph / 2, bottom: ph - ph / 2, left: pw / 2, right: pw - pw / 2, with: 0)
    known = known.padded(top: ph / 2, bottom: ph - ph / 2, left: pw / 2, right: pw - pw / 2, with: false)
    // a given draft padded symmetric as the canvas; else the source mirrored from where outpaintCanvas put it,
    // moved by the padding
    let windowDraft = sampler != .revise ? nil
        : draft.map { mirrorDraft(canvasH: canvas.h, canvasW: canvas.w, $0, y0: ph / 2, x0: pw / 2) }
        ?? mirrorDraft(canvasH: canvas.h, canvasW: canvas.w, tokens, y0: (H - tokens.h) / 2 + ph / 2, x0: (W - tokens.w) / 2 + pw / 2)
    let (out, calls) = try fillCanvas(backend, canvas, known, steps: steps, seed: seed, progress: progress,
                                      draft: windowDraft, threshold: reviseThreshold.reframe)
    return (out.slice(0..<T, (ph / 2)..<(ph / 2 + H), (pw / 2)..<(pw / 2 + W)), calls)
}

public func latentFramesFor(_ frames: Int, group: Int = 4) -> Int { (frames + group - 1) / group }

/// The revise sampler's first draft of an extension (edit.py's `extend_draft`): `tokens`, then their last latent
/// frame copied forward over the latent frames `frames` more video frames take.
public func extendDraft(_ tokens: TokenGrid, frames: Int, group: Int = 4) -> TokenGrid {
    let last = tokens.slice((tokens.t - 1)..<tokens.t, 0..<tokens.h, 0..<tokens.w)
    let added = latentFramesFor(frames, group: group)
    return tokens.appending(TokenGrid(t: added, h: tokens.h, w: tokens.w, data: (0..<added).flatMap { _ in last.data }))
}

/// Append latent frames covering `frames` more video frames after the end of `tokens`.
///
/// Each window keeps the last `context` latent frames known and generates the rest (VideoPoet-style
/// continuation); the window slides until the length is reached. A span starting at latent frame t
/// is filled with seed + 7919*t. The revise sampler drafts each window's new frames as its last known
/// latent frame, copied forward. -> (grid, transformer calls).
public func extend(_ backend: some TransformerBackend, _ tokens: TokenGrid, frames: Int, steps: Int? = nil,
                   seed: Int64 = 0, context: Int = 2, group: Int = 4, progress: ((Int) -> Void)? = nil,
                   sampler: EditSampler = .revise) throws -> (TokenGrid, Int) {
    let steps = try checkSteps(sampler, steps)
    if frames <= 0 || frames > maxExtendFrames {
        throw TokenreelError("--frames \(frames): extend by 1 to \(maxExtendFrames) frames")
    }
    let WT = backend.window.t
    if !(1 <= context && context < WT) {
        throw TokenreelError("context \(context): must be between 1 and \(WT - 1) latent frames")
    }
    let new = latentFramesFor(frames, group: group)
    let (T, H, W) = (tokens.t, tokens.h, tokens.w)
    if T < context {
        throw TokenreelError("the video has \(T) latent frames; extending needs at least \(context)")
    }
    var grid = tokens.appending(TokenGrid(t: new, h: H, w: W, repeating: 0))
    var known = KnownGrid(t: T + new, h: H, w: W, repeating: false)
    known.fill(0..<T, 0..<H, 0..<W, with: true)
    var calls = 0, t = T
    while t < T + new {
        let t0 = t - context
        let span = min(WT, T + new - t0)
        let win = t0..<(t0 + span)
        var subCanvas = TokenGrid(t: WT, h: H, w: W, repeating: 0)
        var subKnown = KnownGrid(t: WT, h: H, w: W, repeating: false)
        subCanvas.assign(grid.slice(win, 0..<H, 0..<W), t0: 0, y0: 0, x0: 0)
        subKnown.assign(known.slice(win, 0..<H, 0..<W), t0: 0, y0: 0, x0: 0)
        var draft: TokenGrid? = nil
        if sampler == .revise {   // the context frames, then the last known frame (t - 1) copied forward
            var d = subCanvas
            let last = grid.slice((t - 1)..<t, 0..<H, 0..<W)
            for k in context..<WT { d.assign(last, t0: k, y0: 0, x0: 0) }
            draft = d
        }
        let (out, c) = try fillCanvas(backend, subCanvas, subKnown, steps: steps, seed: seed &+ 7919 &* Int64(t),
                                      progress: progress, draft: draft, threshold: reviseThreshold.extend)
        grid.assign(out.prefix(frames: span), t0: t0, y0: 0, x0: 0)
        known.fill(win, 0..<H, 0..<W, with: true)
        calls += c
        t = t0 + span
    }
    return (grid, calls)
}
