package tokenreel.core

/**
 * The `ans-wave` payload coder (docs/trl-format.md, trl.py's encode_wave / decode_wave): ans-ctx's kind of
 * context model in an order that decodes in bulk. Token (t, y, x) is in wave w = x + y + 2t; waves go in
 * increasing w, within a wave by increasing d = x + y (so decreasing t), on a diagonal by increasing y, within
 * a token plane 0 first. Every bit a context reads (left, above-left, above; the same position and its right
 * neighbour one frame earlier) lies in an earlier wave, and the counts learn once a wave is done, so all the
 * bits of a wave share one set of counts. The entropy coder is [Ans], as ans-ctx's. Byte-identical to Python.
 */
object AnsWave {
    const val CONTEXTS = 40                    // per plane: 32 after the first frame, 8 in it
    private const val FIRST = 32               // frame 0 has no frame before it: contexts 32 + s
    private const val GROUP_BITS = 1 shl 20    // bits the encoder models at once (its memory: ~5 bytes each)

    /** Waves of a grid, W + H + 2T - 3: the coder calls a reader makes (the cost bound counts them). */
    fun waves(t: Int, h: Int, w: Int): Long = w.toLong() + h + 2L * t - 3

    /**
     * The grid's tokens [g] (T, H, W) in waves: [begin] lists a wave's positions in coding order and their
     * contexts; [cut] is a bit's probability boundary from the counts as they stand at the wave's start;
     * [learn] adds the wave's bits (read back from [g]) to the counts. Buffers grow to the largest wave.
     * [lead] 1: [g] starts with the frame before the run (a version-2 chunk after another), whose frame 0 then
     * reads it as any later frame reads the one before; 0: the run starts the file (frame 0: contexts 32 + s).
     */
    private class Waves(val t: Int, val h: Int, val w: Int, val bits: Int, val g: IntArray, val lead: Int = 0) {
        val count = waves(t, h, w).toInt()
        private val frame = h * w
        var counts = IntArray(bits * CONTEXTS * 2) { 1 }
            private set
        private val cuts = IntArray(bits * CONTEXTS)      // Ans.boundary of each context's k; 0: not computed
        var positions = IntArray(0)                       // the wave's token indices (t * H + y) * W + x
            private set
        var size = 0                                      // ... how many
            private set
        private var ctx = ByteArray(0)                    // plane i of the k-th token's context at k * bits + i

        fun reset(start: IntArray) {
            counts = start.copyOf()
            cuts.fill(0)
        }

        fun begin(wave: Int) {
            val lo = Math.max(wave - 2 * (t - 1), wave and 1)   // diagonals d = x + y of w's parity, 0 <= t < T
            val hi = Math.min(wave, w + h - 2)
            var n = 0
            var d = lo
            while (d <= hi) { n += Math.min(h - 1, d) - Math.max(0, d - w + 1) + 1; d += 2 }
            if (n > positions.size) {
                positions = IntArray(Math.max(n, 2 * positions.size).coerceAtMost(frame))
                ctx = ByteArray(positions.size * bits)
            }
            size = n
            var k = 0
            d = lo
            while (d <= hi) {
                val tt = (wave - d) / 2
                for (y in Math.max(0, d - w + 1)..Math.min(h - 1, d)) {
                    val x = d - y
                    val p = (tt + lead) * frame + y * w + x
                    positions[k] = p
                    contexts(p, tt, y, x, k * bits)
                    k++
                }
                d += 2
            }
        }

        /** The D contexts of token (tt, y, x) at p: bits outside the grid (or before frame 0) are 0. */
        private fun contexts(p: Int, tt: Int, y: Int, x: Int, at: Int) {
            val left = if (x > 0) g[p - 1] else 0
            val aboveLeft = if (x > 0 && y > 0) g[p - w - 1] else 0
            val above = if (y > 0) g[p - w] else 0
            val later = tt > 0 || lead > 0
            val before = if (later) g[p - frame] else 0
            val beforeRight = if (later && x < w - 1) g[p - frame + 1] else 0
            val base = if (later) 0 else FIRST
            for (i in 0 until bits) {
                ctx[at + i] = (base + 4 * ((left ushr i) and 1) + 2 * ((aboveLeft ushr i) and 1) + ((above ushr i) and 1) +
                    8 * ((before ushr i) and 1) + 16 * ((beforeRight ushr i) and 1)).toByte()
            }
        }

        /** Plane i of the k-th token of the wave: its boundary under the counts at the wave's start. */
        fun cut(k: Int, i: Int): Int {
            val c = i * CONTEXTS + ctx[k * bits + i]
            var cut = cuts[c]
            if (cut == 0) {
                cut = Ans.boundary(Ans.k(counts[2 * c].toLong(), counts[2 * c + 1].toLong()))
                cuts[c] = cut
            }
            return cut
        }

        /** Once the wave's tokens are in [g]: count each bit under the context it was coded with. */
        fun learn() {
            for (k in 0 until size) {
                val token = g[positions[k]]
                for (i in 0 until bits) {
                    val c = i * CONTEXTS + ctx[k * bits + i]
                    counts[2 * c + ((token ushr i) and 1)]++
                    cuts[c] = 0
                }
            }
        }
    }

    /**
     * (T, H, W) tokens -> payload bytes. The stack coder takes the symbols last first: a forward pass finds
     * the counts at the start of each group of about [GROUP_BITS] bits, then the groups are modelled again
     * and coded backwards (memory: one group's symbols). A version-2 chunk (trl.encode_wave's prev and model):
     * [prev] and [counts] as [decode] takes them; [counts] holds the counts after the run on return.
     */
    fun encode(tokens: TokenGrid, bits: Int, prev: IntArray? = null, counts: IntArray? = null): ByteArray {
        val (g, lead) = run(tokens, prev, counts, bits)
        val waves = Waves(tokens.t, tokens.h, tokens.w, bits, g, lead)
        if (counts != null) waves.reset(counts)
        val starts = ArrayList<Int>()
        val groupCounts = ArrayList<IntArray>()   // the counts at each group's start
        var wave = 0
        while (wave < waves.count) {
            starts.add(wave)
            groupCounts.add(waves.counts.copyOf())
            var n = 0L
            while (wave < waves.count && n < GROUP_BITS) {
                waves.begin(wave++)
                waves.learn()
                n += waves.size.toLong() * bits
            }
        }
        starts.add(waves.count)
        if (counts != null) System.arraycopy(waves.counts, 0, counts, 0, counts.size)
        val coder = Ans.Encoder()
        var symbols = ByteArray(0)
        var cuts = IntArray(0)
        for (group in starts.size - 2 downTo 0) {
            waves.reset(groupCounts[group])
            var m = 0
            for (v in starts[group] until starts[group + 1]) {
                waves.begin(v)
                if (m + waves.size * bits > symbols.size) {
                    symbols = symbols.copyOf(Math.max(m + waves.size * bits, 2 * symbols.size))
                    cuts = cuts.copyOf(symbols.size)
                }
                for (k in 0 until waves.size) {
                    val token = g[waves.positions[k]]
                    for (i in 0 until bits) {
                        symbols[m] = ((token ushr i) and 1).toByte()
                        cuts[m++] = waves.cut(k, i)
                    }
                }
                waves.learn()
            }
            for (j in m - 1 downTo 0) coder.push(symbols[j].toInt(), cuts[j])
        }
        return coder.bytes()
    }

    /** A run's grid with the frame before it ([prev]) in front, and how many frames that is (0 or 1). */
    private fun run(tokens: TokenGrid, prev: IntArray?, counts: IntArray?, bits: Int): Pair<IntArray, Int> {
        val frame = tokens.h * tokens.w
        require(prev == null || prev.size == frame) { "the frame before is ${prev!!.size} tokens, not $frame" }
        require(counts == null || counts.size == bits * CONTEXTS * 2) { "${counts!!.size} counts for $bits planes" }
        if (prev == null) return Pair(tokens.data, 0)
        val g = IntArray(frame + tokens.size)
        System.arraycopy(prev, 0, g, 0, frame)
        System.arraycopy(tokens.data, 0, g, frame, tokens.size)
        return Pair(g, 1)
    }

    /**
     * Payload bytes -> (T, H, W) tokens, wave by wave. The coder must be empty exactly after the last bit (once
     * empty it decodes every further bit as 0, so a payload that runs out early leaves the rest 0).
     * A version-2 chunk (trl.decode_wave's prev and model): [prev], the frame before the run (H * W tokens; null
     * when the run starts the file), and [counts] (c0, c1 of each plane's contexts, [CONTEXTS] * 2 a plane), the
     * counts the run starts from, which hold the counts after it on return (null: fresh counts).
     */
    fun decode(payload: ByteArray, t: Int, bits: Int, h: Int, w: Int, prev: IntArray? = null, counts: IntArray? = null): IntArray {
        val coder = Ans.Decoder(payload, "ans-wave")
        val frame = h * w
        val (g, lead) = run(TokenGrid(t, h, w), prev, counts, bits)
        val waves = Waves(t, h, w, bits, g, lead)
        if (counts != null) waves.reset(counts)
        for (wave in 0 until waves.count) {
            waves.begin(wave)
            for (k in 0 until waves.size) {
                var token = 0
                for (i in 0 until bits) token = token or (coder.pop(waves.cut(k, i)) shl i)
                g[waves.positions[k]] = token
            }
            waves.learn()
        }
        if (!coder.isEmpty) throw TokenreelException("the ans-wave payload holds more than the grid (is it another file's payload?)")
        if (counts != null) System.arraycopy(waves.counts, 0, counts, 0, counts.size)
        return if (lead == 0) g else g.copyOfRange(frame, g.size)
    }
}
