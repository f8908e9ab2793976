import Foundation

// Token <-> bit conversions (tokenreel/runtime/tokens.py). A token is a D-bit integer; bit i is the sign
// of latent channel i (1 for >= 0). The transformer sees it as sub-tokens: consecutive groups of bits,
// lowest bits first.

/// (T, H, W) tokens -> (T, bits, H, W) float32 of +-1: the decoder's input.
public func latentsOf(_ tokens: TokenGrid, bits: Int) -> Tensor {
    let hw = tokens.h * tokens.w
    var out = [Float](repeating: -1, count: tokens.t * bits * hw)
    for t in 0..<tokens.t {
        for i in 0..<bits {
            let base = (t * bits + i) * hw
            for k in 0..<hw where (tokens.data[t * hw + k] >> Int32(i)) & 1 == 1 { out[base + k] = 1 }
        }
    }
    return Tensor(shape: [tokens.t, bits, tokens.h, tokens.w], data: out)
}

/// (T, bits, H, W) float pre-quantization latent -> (T, H, W) tokens (LFQ: sign of each channel).
public func quantize(_ latent: Tensor) -> TokenGrid {
    precondition(latent.shape.count == 4, "a latent is (T, bits, H, W)")
    let (T, D, H, W) = (latent.shape[0], latent.shape[1], latent.shape[2], latent.shape[3])
    let hw = H * W
    var tokens = [Int32](repeating: 0, count: T * hw)
    for t in 0..<T {
        for i in 0..<D {
            let base = (t * D + i) * hw
            for k in 0..<hw where latent.data[base + k] >= 0 { tokens[t * hw + k] |= Int32(1) << Int32(i) }
        }
    }
    return TokenGrid(t: T, h: H, w: W, data: tokens)
}

/// (N) tokens -> (splits, N) sub-tokens row-major, lowest bits first, maskId where not known.
public func subTokensOf(_ tokens: [Int64], known: [Bool], splits: Int, subBits: Int, maskId: Int) -> [Int64] {
    let N = tokens.count, mask = (Int64(1) << Int64(subBits)) - 1
    var sub = [Int64](repeating: Int64(maskId), count: splits * N)
    for j in 0..<splits {
        for n in 0..<N where known[n] { sub[j * N + n] = (tokens[n] >> Int64(j * subBits)) & mask }
    }
    return sub
}

/// (T, H, W) tokens -> bit planes (T, D, H, W) of 0/1 (trl.py's `to_planes`).
public func toPlanes(_ tokens: TokenGrid, bits: Int) -> [UInt8] {
    let hw = tokens.h * tokens.w
    var planes = [UInt8](repeating: 0, count: tokens.t * bits * hw)
    for t in 0..<tokens.t {
        for i in 0..<bits {
            let base = (t * bits + i) * hw
            for k in 0..<hw { planes[base + k] = UInt8((tokens.data[t * hw + k] >> Int32(i)) & 1) }
        }
    }
    return planes
}

/// Bit planes (T, D, H, W) -> (T, H, W) tokens.
public func tokensOf(planes: [UInt8], t T: Int, bits D: Int, h H: Int, w W: Int) -> TokenGrid {
    let hw = H * W
    var tokens = [Int32](repeating: 0, count: T * hw)
    for t in 0..<T {
        for i in 0..<D {
            let base = (t * D + i) * hw
            for k in 0..<hw where planes[base + k] != 0 { tokens[t * hw + k] |= Int32(1) << Int32(i) }
        }
    }
    return TokenGrid(t: T, h: H, w: W, data: tokens)
}
