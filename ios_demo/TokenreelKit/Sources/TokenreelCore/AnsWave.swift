import Foundation

/// The `ans-wave` payload coder of .trl files (docs/trl-format.md, trl.py's encode_wave / decode_wave):
/// ans-ctx's kind of context model in an order that decodes in bulk. Token (t, y, x) is in wave
/// w = x + y + 2t; waves go in increasing w, within a wave by increasing d = x + y (so decreasing t), on a
/// diagonal by increasing y, within a token plane 0 first. Every bit a context reads (left, above-left,
/// above; the same position and its right neighbour one frame earlier) lies in an earlier wave, and the
/// counts learn once a wave is done, so all the bits of a wave share one set of counts. The entropy coder
/// is ans-ctx's (AnsCoder.swift); the payload words are Python's (TrlGoldenTests compares the bytes).
public enum AnsWave {
    static let contexts = 40              // per plane: 32 after the first frame, 8 in it
    static let first = 32                 // frame 0 has no frame before it: contexts 32 + s

    /// Waves of a grid, W + H + 2T - 3: the coder calls a reader makes (the cost bound counts them).
    public static func waves(T: Int, H: Int, W: Int) -> Int { W + H + 2 * T - 3 }

    /// The grid's tokens in waves: `begin` lists a wave's positions in coding order and their contexts;
    /// `cut` is a bit's probability boundary from the counts as they stand at the wave's start; `learn`
    /// adds the wave's bits (read back from the tokens) to the counts. Buffers grow to the largest wave.
    /// `lead` 1: the tokens start with the frame before the run (a version-2 chunk after another), which the
    /// run's frame 0 reads as any later frame reads the one before; 0: the run starts the file (contexts 32 + s).
    struct Waves {
        let T: Int, H: Int, W: Int, D: Int, count: Int
        var lead = 0
        var counts: [Int]
        var cuts: [UInt64]                // bernoulliCdf1 of each context's k; 0: not computed
        var positions: [Int] = []         // the wave's token indices (t * H + y) * W + x, `size` of them
        var size = 0
        var ctx: [UInt8] = []             // plane i of the k-th token's context at k * D + i

        init(T: Int, H: Int, W: Int, D: Int) {
            self.T = T; self.H = H; self.W = W; self.D = D
            count = AnsWave.waves(T: T, H: H, W: W)
            counts = [Int](repeating: 1, count: D * AnsWave.contexts * 2)
            cuts = [UInt64](repeating: 0, count: D * AnsWave.contexts)
        }

        mutating func reset(_ start: [Int]) {
            counts = start
            for c in cuts.indices { cuts[c] = 0 }
        }

        mutating func begin(_ wave: Int, _ g: UnsafePointer<Int32>) {
            let (T, H, W, D, frame, lead) = (T, H, W, D, H * W, lead)
            let lo = max(wave - 2 * (T - 1), wave & 1), hi = min(wave, W + H - 2)   // d of w's parity, 0 <= t < T
            var n = 0
            for d in stride(from: lo, through: hi, by: 2) { n += min(H - 1, d) - max(0, d - W + 1) + 1 }
            if n > positions.count {
                positions = [Int](repeating: 0, count: min(max(n, 2 * positions.count), frame))
                ctx = [UInt8](repeating: 0, count: positions.count * D)
            }
            size = n
            positions.withUnsafeMutableBufferPointer { pos in
                ctx.withUnsafeMutableBufferPointer { ctx in
                    var k = 0
                    for d in stride(from: lo, through: hi, by: 2) {
                        let t = (wave - d) / 2
                        for y in max(0, d - W + 1)...min(H - 1, d) {
                            let x = d - y, p = (t + lead) * frame + y * W + x
                            pos[k] = p
                            // the neighbours' tokens: 0 outside the grid (or before frame 0)
                            let left = x > 0 ? Int(g[p - 1]) : 0
                            let aboveLeft = x > 0 && y > 0 ? Int(g[p - W - 1]) : 0
                            let above = y > 0 ? Int(g[p - W]) : 0
                            let later = t > 0 || lead > 0
                            let before = later ? Int(g[p - frame]) : 0
                            let beforeRight = later && x < W - 1 ? Int(g[p - frame + 1]) : 0
                            let base = later ? 0 : AnsWave.first
                            for i in 0..<D {
                                ctx[k * D + i] = UInt8(base + 4 * ((left >> i) & 1) + 2 * ((aboveLeft >> i) & 1) + ((above >> i) & 1)
                                                       + 8 * ((before >> i) & 1) + 16 * ((beforeRight >> i) & 1))
                            }
                            k += 1
                        }
                    }
                }
            }
        }

        /// Plane i of the k-th token of the wave: its boundary under the counts at the wave's start.
        @inline(__always) mutating func cut(_ k: Int, _ i: Int) -> UInt64 {
            let c = i * AnsWave.contexts + Int(ctx[k * D + i])
            if cuts[c] == 0 {
                let c0 = counts[2 * c], c1 = counts[2 * c + 1], one = 1 << probBits
                cuts[c] = bernoulliCdf1(min(max((c1 * one + (c0 + c1) / 2) / (c0 + c1), 1), one - 1))
            }
            return cuts[c]
        }

        /// Once the wave's tokens are in `g`: count each bit under the context it was coded with.
        mutating func learn(_ g: UnsafePointer<Int32>) {
            for k in 0..<size {
                let token = Int(g[positions[k]])
                for i in 0..<D {
                    let c = i * AnsWave.contexts + Int(ctx[k * D + i])
                    counts[2 * c + ((token >> i) & 1)] += 1
                    cuts[c] = 0
                }
            }
        }
    }

    /// (T, H, W) tokens -> payload bytes (little-endian u32 words). The stack coder takes the symbols last
    /// first: a forward pass finds the counts at the start of each group of about `groupBits` bits, then the
    /// groups are modelled again and coded backwards (memory: one group's symbols).
    public static func encode(_ tokens: TokenGrid, bits D: Int, groupBits: Int = 1 << 20) -> Data {
        encodeRun(tokens, D: D, prev: nil, counts: nil, groupBits: groupBits).0
    }

    /// One run of a version-2 chunk (trl.encode_wave's prev and model), as `decodeRun` takes it -> (the payload,
    /// the counts after the run).
    static func encodeRun(_ tokens: TokenGrid, D: Int, prev: [Int32]?, counts start: [Int]?, groupBits: Int = 1 << 20)
        -> (Data, [Int]) {
        var waves = Waves(T: tokens.t, H: tokens.h, W: tokens.w, D: D)
        precondition(prev == nil || prev!.count == tokens.h * tokens.w, "the frame before is not H * W tokens")
        waves.lead = prev == nil ? 0 : 1
        if let start { waves.reset(start) }
        let all = (prev ?? []) + tokens.data       // the frame before the run, then the run
        var coder = AnsEncoder()
        var after: [Int] = []
        all.withUnsafeBufferPointer { gb in
            let g = gb.baseAddress!
            var starts: [Int] = [], counts: [[Int]] = []
            var wave = 0
            while wave < waves.count {
                starts.append(wave)
                counts.append(waves.counts)
                var n = 0
                while wave < waves.count, n < groupBits {
                    waves.begin(wave, g)
                    waves.learn(g)
                    n += waves.size * D
                    wave += 1
                }
            }
            starts.append(waves.count)
            after = waves.counts
            var symbols: [UInt8] = [], cdfs: [UInt64] = []
            for group in stride(from: counts.count - 1, through: 0, by: -1) {
                waves.reset(counts[group])
                symbols.removeAll(keepingCapacity: true)
                cdfs.removeAll(keepingCapacity: true)
                for v in starts[group]..<starts[group + 1] {
                    waves.begin(v, g)
                    for k in 0..<waves.size {
                        let token = g[waves.positions[k]]
                        for i in 0..<D {
                            symbols.append(UInt8((token >> Int32(i)) & 1))
                            cdfs.append(waves.cut(k, i))
                        }
                    }
                    waves.learn(g)
                }
                for j in stride(from: symbols.count - 1, through: 0, by: -1) { coder.encode(symbols[j], cdf1: cdfs[j]) }
            }
        }
        return (wordsToData(coder.compressed()), after)
    }

    /// Payload bytes -> (T, H, W) tokens, wave by wave. The coder must be empty exactly after the last bit
    /// (once empty it decodes every further bit as 0, so a payload that runs out early leaves the rest 0).
    public static func decode(_ payload: Data, T: Int, D: Int, H: Int, W: Int) throws -> TokenGrid {
        try decodeRun(payload, T: T, D: D, H: H, W: W, prev: nil, counts: nil).0
    }

    /// Fresh counts: (c0, c1) = (1, 1) for each of a plane's `contexts`, plane by plane.
    static func freshCounts(D: Int) -> [Int] { [Int](repeating: 1, count: D * contexts * 2) }

    /// One run of a version-2 chunk (trl.decode_wave's prev and model): `prev`, the frame before the run (H * W
    /// tokens; nil when the run starts the file), `counts`, those the run starts from (nil: fresh) ->
    /// (the run's tokens, the counts after it).
    static func decodeRun(_ payload: Data, T: Int, D: Int, H: Int, W: Int, prev: [Int32]?, counts: [Int]?) throws
        -> (TokenGrid, [Int]) {
        var decoder = try AnsDecoder(words: ansWords(payload, "ans-wave"))
        var waves = Waves(T: T, H: H, W: W, D: D)
        let frame = H * W, lead = prev == nil ? 0 : 1
        precondition(prev == nil || prev!.count == frame, "the frame before is not H * W tokens")
        waves.lead = lead
        if let counts { waves.reset(counts) }
        var tokens = [Int32](repeating: 0, count: (T + lead) * frame)
        if let prev { tokens.replaceSubrange(0..<frame, with: prev) }
        tokens.withUnsafeMutableBufferPointer { gb in
            let g = gb.baseAddress!
            for wave in 0..<waves.count {
                waves.begin(wave, g)
                for k in 0..<waves.size {
                    var token: Int32 = 0
                    for i in 0..<D { token |= Int32(decoder.decode(cdf1: waves.cut(k, i))) << Int32(i) }
                    g[waves.positions[k]] = token
                }
                waves.learn(g)
            }
        }
        guard decoder.pos == 0, decoder.state == 0 else {
            throw TokenreelError("the ans-wave payload holds more than the grid (is it another file's payload?)")
        }
        return (TokenGrid(t: T, h: H, w: W, data: lead == 0 ? tokens : Array(tokens[frame...])), waves.counts)
    }
}
