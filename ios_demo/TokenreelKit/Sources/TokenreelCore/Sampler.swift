import Foundation

// MaskGIT iterative parallel decoding, and draft-and-revise decoding on top of it, with a fully specified
// counter-based generator (docs/sampler.md). Port of tokenreel/runtime/sampler.py: `Generator` bit for bit,
// `maskgitDecode` / `reviseDecode` pick for pick given the same logits. tests/golden/sampler-v1.json pins
// them down (SamplerGoldenTests).

public let samplerSpecVersion = "tokenreel-sampler-v1"
public let GOLDEN: UInt64 = 0x9E37_79B9_7F4A_7C15
let M1: UInt64 = 0xBF58_476D_1CE4_E5B9
let M2: UInt64 = 0x94D0_49BB_1331_11EB

/// SplitMix64's output function (wrapping arithmetic, as numpy's uint64).
@inline(__always) public func mix64(_ value: UInt64) -> UInt64 {
    var x = value
    x = (x ^ (x >> 30)) &* M1
    x = (x ^ (x >> 27)) &* M2
    return x ^ (x >> 31)
}

/// Counter-based: value i of key k is mix64(k + (i + 1) * GOLDEN) (= the i-th SplitMix64 output from
/// state k). Sub-keys: derive(k, label) = mix64(k ^ mix64(label * GOLDEN + 1)), so any draw is
/// addressable without replaying the stream.
public struct Generator {
    public let key: UInt64

    public init(key: UInt64) { self.key = key }

    /// Python's `Generator(seed)` masks the (unbounded) int to 64 bits: the same as the bit pattern of a
    /// two's complement Int64.
    public init(seed: Int64) { self.key = UInt64(bitPattern: seed) }

    public func derive(_ label: UInt64) -> Generator {
        Generator(key: mix64(key ^ mix64(label &* GOLDEN &+ 1)))
    }

    @inline(__always) public func uint64(_ i: UInt64) -> UInt64 { mix64(key &+ (i &+ 1) &* GOLDEN) }

    public func uint64(start: Int, count: Int) -> [UInt64] { (0..<count).map { uint64(UInt64(start + $0)) } }

    /// A double in (0, 1): ((v >> 11) + 0.5) / 2^53 (v >> 11 < 2^53, so the conversion is exact).
    @inline(__always) public func uniform(_ i: UInt64) -> Double {
        (Double(uint64(i) >> 11) + 0.5) / 9_007_199_254_740_992.0
    }

    public func uniform(start: Int, count: Int) -> [Double] { (0..<count).map { uniform(UInt64(start + $0)) } }
}

/// Tokens still masked after `step` (0-based) of `steps`: floor(unknown * cos(pi/2 * (step+1)/steps)).
/// Same operation order as Python: ((pi / 2) * (step + 1)) / steps.
public func cosineRemaining(unknown: Int, step: Int, steps: Int) -> Int {
    Int((Double(unknown) * cos(Double.pi / 2 * Double(step + 1) / Double(steps))).rounded(.down))
}

/// One categorical draw by inverse CDF, in float64 (sampler.py's `sample_categorical` for one row):
/// the pick is the number of entries whose cumulative probability is <= u * total (capped at V - 1);
/// returns it and its log-probability. `x`, `p` are scratch buffers of V doubles.
func sampleCategorical(_ logits: UnsafeBufferPointer<Float>, _ u: Double,
                       _ x: UnsafeMutableBufferPointer<Double>, _ p: UnsafeMutableBufferPointer<Double>) -> (Int, Double) {
    let V = logits.count
    var m = -Double.infinity
    for v in 0..<V { x[v] = Double(logits[v]); if x[v] > m { m = x[v] } }   // np.max (no NaN expected)
    for v in 0..<V { x[v] -= m; p[v] = exp(x[v]) }
    var total = 0.0                          // the running sum's last entry (docs/sampler.md), not pairwise
    for v in 0..<V { total += p[v] }
    let threshold = u * total
    var cdf = 0.0, count = 0
    for v in 0..<V {
        cdf += p[v]                          // np.cumsum: a running sum in index order
        if cdf <= threshold { count += 1 }
    }
    let pick = min(count, V - 1)
    return (pick, x[pick] - log(total))
}

/// Fill the unknown tokens of one window (sampler.py's `maskgit_decode`).
///
/// tokens (N) (values at unknown positions are ignored), known (N).
/// logits(sub_tokens (splits, N) row-major) -> (splits, N, 2^subBits) float logits, row-major.
/// Each step samples every masked token (one categorical per sub-token), scores it by the sum of its
/// sub-token log-probabilities plus temperature * (1 - (step+1)/steps) * Gumbel noise, and keeps all but
/// the `cosineRemaining` least confident; known and already kept tokens never change.
public func maskgitDecode(logits logitsFn: ([Int64]) throws -> [Float], tokens tokensIn: [Int32], known: [Bool],
                          splits: Int, subBits: Int, maskId: Int, steps: Int = 12, seed: Int64 = 0,
                          temperature: Double = 4.5, progress: ((Int) -> Void)? = nil) throws -> [Int32] {
    guard steps > 0 else { throw TokenreelError("steps must be positive") }
    precondition(tokensIn.count == known.count)
    let N = tokensIn.count, V = 1 << subBits
    let gen = Generator(seed: seed)
    var tokens = (0..<N).map { known[$0] ? Int64(tokensIn[$0]) : 0 }
    var fixed = known
    let unknown = known.lazy.filter { !$0 }.count
    var x = [Double](repeating: 0, count: V), p = [Double](repeating: 0, count: V)
    for step in 0..<steps {
        let masked = (0..<N).filter { !fixed[$0] }
        if masked.isEmpty { break }
        let logits = try logitsFn(subTokensOf(tokens, known: fixed, splits: splits, subBits: subBits, maskId: maskId))
        guard logits.count == splits * N * V else {
            throw TokenreelError("the transformer returned \(logits.count) logits, not \(splits)x\(N)x\(V)")
        }
        let g = gen.derive(UInt64(step))
        let M = masked.count
        var picks = [Int64](repeating: 0, count: M)
        var confidence = [Double](repeating: 0, count: M)
        logits.withUnsafeBufferPointer { L in
            x.withUnsafeMutableBufferPointer { xb in
                p.withUnsafeMutableBufferPointer { pb in
                    for j in 0..<splits {
                        for (m, n) in masked.enumerated() {
                            // u[m, j] = uniform(m * splits + j): the (M, splits) reshape of one stream
                            let u = g.uniform(UInt64(m * splits + j))
                            let row = UnsafeBufferPointer(rebasing: L[((j * N + n) * V)..<((j * N + n) * V + V)])
                            let (pick, logp) = sampleCategorical(row, u, xb, pb)
                            picks[m] |= Int64(pick) << (j * subBits)
                            confidence[m] += logp
                        }
                    }
                }
            }
        }
        let anneal = temperature * (1.0 - Double(step + 1) / Double(steps))
        let noise = g.derive(1 << 32)
        for m in 0..<M { confidence[m] += anneal * -log(-log(noise.uniform(UInt64(m)))) }
        let remaining = min(cosineRemaining(unknown: unknown, step: step, steps: steps), M - 1)
        // least confident first; ties: lower rank first (numpy's stable argsort)
        let order = (0..<M).sorted { (confidence[$0], $0) < (confidence[$1], $1) }
        for m in order[remaining...] {
            tokens[masked[m]] = picks[m]
            fixed[masked[m]] = true
        }
        progress?(1)
    }
    return tokens.map { Int32(truncatingIfNeeded: $0) }
}

/// How the model rates the shown tokens at `positions` against its own top choice (sampler.py's
/// `draft_scores`): in float64, the sum over sub-tokens j of L[j][n][sub_j(token)] - max_v L[j][n][v]
/// (0: the model's top choice for every sub-token). No exp or log, so ports match exactly.
/// logits: (splits, N, 2^subBits) row-major, N = tokens.count.
public func draftScores(_ logits: [Float], tokens: [Int64], positions: [Int], splits: Int, subBits: Int) -> [Double] {
    let N = tokens.count, V = 1 << subBits, mask = Int64(V - 1)
    var score = [Double](repeating: 0, count: positions.count)
    for j in 0..<splits {
        for (m, n) in positions.enumerated() {
            let row = (j * N + n) * V
            var top = Double(logits[row])
            for v in 1..<V where Double(logits[row + v]) > top { top = Double(logits[row + v]) }
            let sub = Int((tokens[n] >> Int64(j * subBits)) & mask)
            score[m] += Double(logits[row + sub]) - top
        }
    }
    return score
}

/// Start from a draft and revise it (sampler.py's `revise_decode`). One call shows the model every token:
/// the known ones and `draft` (N) at the unknown positions. The drafted tokens it rates more than
/// `threshold` below its top choice (`draftScores`) are masked again and filled by `maskgitDecode` in
/// `steps` steps with the same seed; every other drafted token is kept. Calls: 1 + steps (1 when every
/// drafted token is kept).
public func reviseDecode(logits logitsFn: ([Int64]) throws -> [Float], tokens: [Int32], known: [Bool], draft: [Int32],
                         splits: Int, subBits: Int, maskId: Int, steps: Int = 4, seed: Int64 = 0,
                         threshold: Double = 2.0, temperature: Double = 4.5,
                         progress: ((Int) -> Void)? = nil) throws -> [Int32] {
    guard steps >= 0 else { throw TokenreelError("steps must be 0 or more") }
    precondition(tokens.count == known.count && draft.count == known.count)
    let N = tokens.count
    let shown = (0..<N).map { known[$0] ? tokens[$0] : draft[$0] }
    let unknown = (0..<N).filter { !known[$0] }
    if unknown.isEmpty { return shown }
    let wide = shown.map { Int64($0) }
    let logits = try logitsFn(subTokensOf(wide, known: [Bool](repeating: true, count: N), splits: splits,
                                          subBits: subBits, maskId: maskId))
    guard logits.count == splits * N << subBits else {
        throw TokenreelError("the transformer returned \(logits.count) logits, not \(splits)x\(N)x\(1 << subBits)")
    }
    progress?(1)
    let score = draftScores(logits, tokens: wide, positions: unknown, splits: splits, subBits: subBits)
    var fixed = known
    for (m, n) in unknown.enumerated() where score[m] >= -threshold { fixed[n] = true }
    if fixed.allSatisfy({ $0 }) { return shown }
    if steps == 0 {   // MaskGIT's one step, on the scoring call's logits (docs/sampler.md): no second call
        return try maskgitDecode(logits: { _ in logits }, tokens: shown, known: fixed, splits: splits,
                                 subBits: subBits, maskId: maskId, steps: 1, seed: seed, temperature: temperature)
    }
    return try maskgitDecode(logits: logitsFn, tokens: shown, known: fixed, splits: splits, subBits: subBits,
                             maskId: maskId, steps: steps, seed: seed, temperature: temperature, progress: progress)
}
