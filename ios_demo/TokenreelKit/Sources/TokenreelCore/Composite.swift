import Foundation

// Keep the user's pixels (tokenreel/runtime/composite.py, specified in docs/sampler.md "Keeping the source's
// pixels"): video outputs of an edit take the source's own frames where the source is known. Reframe blends
// the decoded (generated) margins in across a short feathered seam; extend continues from the source's last
// frame and adds to it only what the model changed against its draft. Integer arithmetic throughout (weights
// out of 256), so the bytes are Python's (CompositeGoldenTests).

public let compositeFeather = 8      // pixels (one token) over which a generated margin blends into the kept source

/// A pixel box (y0, x0, y1, x1), ends exclusive: where the source sits on a reframed canvas.
public struct PixelBox: Equatable {
    public let y0: Int, x0: Int, y1: Int, x1: Int
    public init(y0: Int, x0: Int, y1: Int, x1: Int) { self.y0 = y0; self.x0 = x0; self.y1 = y1; self.x1 = x1 }
}

/// (height * width) weights of the source, 0...256 (composite.py's `feather_weights`): inside `box`,
/// w(d) = min(256, (2d + 1) * 256 / (2 * feather)) (floor) at distance d from the nearest box side that faces
/// generated canvas (a side on the canvas border faces nothing; none near: 256); 0 outside.
public func featherWeights(height: Int, width: Int, box: PixelBox, feather: Int = compositeFeather) -> [Int32] {
    var out = [Int32](repeating: 0, count: height * width)
    for y in box.y0..<box.y1 {
        for x in box.x0..<box.x1 {
            var d = 1 << 30
            if box.y0 > 0 { d = min(d, y - box.y0) }
            if box.y1 < height { d = min(d, box.y1 - 1 - y) }
            if box.x0 > 0 { d = min(d, x - box.x0) }
            if box.x1 < width { d = min(d, box.x1 - 1 - x) }
            out[y * width + x] = Int32(min(256, (2 * d + 1) * 256 / (2 * feather)))
        }
    }
    return out
}

/// (w * source + (256 - w) * decoded + 128) >> 8 per channel; `weights`: one per pixel, or nil with `weight`.
public func blend(_ source: Frame, _ decoded: Frame, weights: [Int32]? = nil, weight: Int32 = 0) -> Frame {
    precondition(source.width == decoded.width && source.height == decoded.height)
    var rgb = decoded.rgb
    for k in 0..<(source.width * source.height) {
        let w = weights?[k] ?? weight
        for c in 0..<3 {
            rgb[k * 3 + c] = UInt8((w * Int32(source.rgb[k * 3 + c]) + (256 - w) * Int32(decoded.rgb[k * 3 + c]) + 128) >> 8)
        }
    }
    return Frame(width: decoded.width, height: decoded.height, rgb: rgb)
}

/// One reframed frame: the decoded canvas frame with the source frame (sized to the box) pasted into `box`
/// and feathered into the generated margins by `weights` (featherWeights of the canvas).
public func reframedFrame(_ decoded: Frame, source: Frame, box: PixelBox, weights: [Int32]) -> Frame {
    precondition(source.width == box.x1 - box.x0 && source.height == box.y1 - box.y0, "the source must fill the box")
    var placed = decoded
    for y in 0..<source.height {
        let dst = ((box.y0 + y) * decoded.width + box.x0) * 3, src = y * source.width * 3
        placed.rgb.replaceSubrange(dst..<(dst + source.width * 3), with: source.rgb[src..<(src + source.width * 3)])
    }
    return blend(placed, decoded, weights: weights)
}

/// Generated frame k of an extension (extended_frames' second part; the source's own frames come first,
/// unchanged): the source's last frame plus what the model changed, clip(last + generated - draft, 0, 255) per
/// byte, where `draft` is the decoded draft the model started from (the last latent frame copied forward).
/// Where the model kept its draft the extension is the source's last frame, sharp; the decoder's blur and
/// flicker cancel where draft and result agree. Without a source frame, `generated` as it is.
public func extendedFrame(_ generated: Frame, draft: Frame, lastSource: Frame?) -> Frame {
    guard let last = lastSource else { return generated }
    precondition(last.rgb.count == generated.rgb.count && draft.rgb.count == generated.rgb.count)
    var rgb = generated.rgb
    for i in 0..<rgb.count {
        rgb[i] = UInt8(min(255, max(0, Int(last.rgb[i]) + Int(generated.rgb[i]) - Int(draft.rgb[i]))))
    }
    return Frame(width: generated.width, height: generated.height, rgb: rgb)
}

/// An extended video's frames (composite.py's `extended_frames`): the source's own frames, then each generated
/// frame paired with the draft's (as zip: as many as the shorter has) through `extendedFrame`.
public func extendedFrames(source: [Frame], generated: [Frame], draft: [Frame]) -> [Frame] {
    source + zip(generated, draft).map { extendedFrame($0, draft: $1, lastSource: source.last) }
}
