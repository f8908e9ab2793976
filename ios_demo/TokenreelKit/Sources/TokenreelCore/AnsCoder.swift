import Foundation

// The `ans-ctx` payload coder of .trl files, and the entropy coder ans-wave shares (AnsWave.swift) (docs/trl-format.md, tokenreel/runtime/trl.py): every bit coded
// with range-ANS under an adaptive binary context model. The Python writer uses constriction 0.5's
// `stack.AnsCoder` (32-bit words, 64-bit state) with `Bernoulli(perfect=False)`; this reproduces both
// exactly, so the payload words are the same (TrlGoldenTests compares the bytes).

let probBits = 12                  // the context model's probabilities are k / 4096, k in [1, 4095]
let contexts = 48                  // 32 for frames after the first, 16 for the first
let ansPrecision: UInt64 = 24      // constriction's DefaultContiguousCategoricalEntropyModel: 24-bit probabilities

/// constriction's `from_floating_point_probabilities_fast([1 - p, p])` with p = k / 4096: symbol 0 gets
/// [0, cdf1), symbol 1 [cdf1, 2^24). free weight 2^24 - 2 is spread by truncation after one slot each;
/// every operation is exact in float64 for these values, so integers reproduce the Rust float code.
@inline(__always) func bernoulliCdf1(_ k: Int) -> UInt64 {
    let p = Double(k) / 4096.0
    let scale = Double((1 << 24) - 2) / ((1.0 - p) + p)   // Rust sums the probabilities for the normalization
    return UInt64((1.0 - p) * scale) + 1                   // `as u32` truncates; +1: the symbol's slack slot
}

/// rANS on a stack of 32-bit words (constriction `AnsCoder<u32, u64>`).
struct AnsEncoder {
    var bulk: [UInt32] = []
    var state: UInt64 = 0

    mutating func encode(_ symbol: UInt8, cdf1: UInt64) {
        let (left, prob): (UInt64, UInt64) = symbol == 0 ? (0, cdf1) : (cdf1, (1 << ansPrecision) - cdf1)
        if (state >> (64 - ansPrecision)) >= prob {   // would overflow: move the low word to the bulk
            bulk.append(UInt32(truncatingIfNeeded: state))
            state >>= 32
        }
        state = ((state / prob) << ansPrecision) | (left + state % prob)
    }

    /// get_compressed(): the bulk, then the state's words low word first, leading zero words dropped.
    func compressed() -> [UInt32] {
        var words = bulk, s = state
        while s != 0 { words.append(UInt32(truncatingIfNeeded: s)); s >>= 32 }
        return words
    }
}

struct AnsDecoder {
    let words: [UInt32]
    var pos: Int
    var state: UInt64 = 0

    /// constriction's `from_compressed`: words are read from the end; the last must not be zero.
    init(words: [UInt32]) throws {
        self.words = words
        pos = words.count
        if let first = read() {
            guard first != 0 else { throw TokenreelError("the ANS payload ends in a zero word") }
            state = UInt64(first)
            while let w = read() {
                state = (state << 32) | UInt64(w)
                if state >= (1 << 32) { break }
            }
        }
    }

    mutating func read() -> UInt32? {
        guard pos > 0 else { return nil }
        pos -= 1
        return words[pos]
    }

    mutating func decode(cdf1: UInt64) -> UInt8 {
        let quantile = state & ((1 << ansPrecision) - 1)
        let (symbol, left, prob): (UInt8, UInt64, UInt64) =
            quantile < cdf1 ? (0, 0, cdf1) : (1, cdf1, (1 << ansPrecision) - cdf1)
        state = (state >> ansPrecision) * prob + (quantile - left)
        if state < (1 << 32), let w = read() { state = (state << 32) | UInt64(w) }
        return symbol
    }
}

/// Walk the tokens in coding order (t, y, x); `code(t, y, x, ks)` codes (or decodes into planes) the D
/// bits of one token with P(bit i = 1) = ks[i] / 4096, then the counts learn from them.
/// planes: (T, D, H, W) of 0/1, read for contexts (decoding fills them in as it goes).
func tokensInOrder(_ planes: UnsafeMutablePointer<UInt8>, T: Int, D: Int, H: Int, W: Int,
                   _ code: (Int, Int, Int, [Int]) -> Void) {
    var c0 = [Int](repeating: 1, count: D * contexts), c1 = [Int](repeating: 1, count: D * contexts)
    var ctx = [Int](repeating: 0, count: D), ks = [Int](repeating: 0, count: D)
    let one = 1 << probBits
    @inline(__always) func bit(_ t: Int, _ i: Int, _ y: Int, _ x: Int) -> Int {
        // outside the grid (y < 0, x < 0 or x >= W) a bit counts as 0
        (y >= 0 && x >= 0 && x < W) ? Int(planes[((t * D + i) * H + y) * W + x]) : 0
    }
    for t in 0..<T {
        for y in 0..<H {
            for x in 0..<W {
                for i in 0..<D {
                    let s = bit(t, i, y, x - 1) * 8 + bit(t, i, y - 1, x - 1) * 4 + bit(t, i, y - 1, x) * 2 + bit(t, i, y - 1, x + 1)
                    ctx[i] = t == 0 ? s + 32 : s + 16 * bit(t - 1, i, y, x)
                    let a0 = c0[i * contexts + ctx[i]], a1 = c1[i * contexts + ctx[i]]
                    ks[i] = min(max((a1 * one + (a0 + a1) / 2) / (a0 + a1), 1), one - 1)
                }
                code(t, y, x, ks)
                for i in 0..<D {
                    if planes[((t * D + i) * H + y) * W + x] != 0 { c1[i * contexts + ctx[i]] += 1 } else { c0[i * contexts + ctx[i]] += 1 }
                }
            }
        }
    }
}

/// planes (T, D, H, W) 0/1 -> payload bytes (little-endian u32 words). Symbols go token by token
/// (t, y, x), within a token plane 0 first; they are encoded in reverse so that decoding runs forward.
func encodeAns(_ planesIn: [UInt8], T: Int, D: Int, H: Int, W: Int) -> Data {
    var planes = planesIn
    var symbols: [UInt8] = [], cdfs: [UInt64] = []
    symbols.reserveCapacity(planes.count); cdfs.reserveCapacity(planes.count)
    planes.withUnsafeMutableBufferPointer { pb in
        let p = pb.baseAddress!
        tokensInOrder(p, T: T, D: D, H: H, W: W) { t, y, x, ks in
            for i in 0..<D {
                symbols.append(p[((t * D + i) * H + y) * W + x])
                cdfs.append(bernoulliCdf1(ks[i]))
            }
        }
    }
    var coder = AnsEncoder()
    for n in stride(from: symbols.count - 1, through: 0, by: -1) { coder.encode(symbols[n], cdf1: cdfs[n]) }
    return wordsToData(coder.compressed())
}

/// An ANS payload's little-endian 32-bit words (it must be whole words; `name`: the coder, for the error).
func ansWords(_ payload: Data, _ name: String) throws -> [UInt32] {
    guard payload.count % 4 == 0 else { throw TokenreelError("the \(name) payload is not whole 32-bit words") }
    var words = [UInt32](repeating: 0, count: payload.count / 4)
    for k in 0..<words.count { words[k] = readLE(payload, payload.startIndex + 4 * k, as: UInt32.self) }
    return words
}

func decodeAns(_ payload: Data, T: Int, D: Int, H: Int, W: Int) throws -> [UInt8] {
    var decoder = try AnsDecoder(words: ansWords(payload, "ans-ctx"))
    var planes = [UInt8](repeating: 0, count: T * D * H * W)
    planes.withUnsafeMutableBufferPointer { pb in
        let p = pb.baseAddress!
        tokensInOrder(p, T: T, D: D, H: H, W: W) { t, y, x, ks in
            for i in 0..<D { p[((t * D + i) * H + y) * W + x] = decoder.decode(cdf1: bernoulliCdf1(ks[i])) }
        }
    }
    // the coder must be empty (its initial state, no words left) exactly after the last token; once empty
    // it decodes every further bit as 0, so a payload that runs out early leaves the rest of the grid 0
    guard decoder.pos == 0, decoder.state == 0 else {
        throw TokenreelError("the ans-ctx payload holds more than the grid (is it another file's payload?)")
    }
    return planes
}

// MARK: - little-endian helpers

func wordsToData(_ words: [UInt32]) -> Data {
    var d = Data(capacity: words.count * 4)
    for w in words { appendLE(&d, w) }
    return d
}

func appendLE<T: FixedWidthInteger>(_ d: inout Data, _ v: T) {
    var le = v.littleEndian
    withUnsafeBytes(of: &le) { d.append(contentsOf: $0) }
}

func readLE<T: FixedWidthInteger>(_ d: Data, _ offset: Int, as: T.Type) -> T {
    var v: T = 0
    for k in 0..<MemoryLayout<T>.size { v |= T(d[offset + k]) << (8 * k) }
    return v
}
