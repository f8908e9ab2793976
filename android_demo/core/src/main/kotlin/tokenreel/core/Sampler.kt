package tokenreel.core

/**
 * MaskGIT decoding of one window, and draft-and-revise decoding on top of it (docs/sampler.md;
 * tokenreel/runtime/sampler.py), pick for pick the same as the Python runtime given the same logits. Sums are plain left-to-right running sums (the total is the
 * cdf's last entry, as the spec says) and exp/log/cos are StrictMath (fdlibm), so results do not depend on
 * the device's JIT.
 */
object Sampler {
    const val SPEC_VERSION = "tokenreel-sampler-v1"
    const val DEFAULT_TEMPERATURE = 4.5

    /** Tokens still masked after [step] (0-based) of [steps]: floor(unknown * cos(pi/2 * (step+1)/steps)). */
    fun cosineRemaining(unknown: Int, step: Int, steps: Int): Int =
        Math.floor(unknown * StrictMath.cos(Math.PI / 2 * (step + 1) / steps)).toInt()

    /** One categorical draw by inverse CDF from float32 logits[offset until offset+v] with uniform [u]. */
    class Pick(val index: Int, val logProbability: Double)

    fun sampleCategorical(logits: FloatArray, offset: Int, v: Int, u: Double, scratch: DoubleArray = DoubleArray(v)): Pick {
        var max = Double.NEGATIVE_INFINITY
        for (i in 0 until v) max = Math.max(max, logits[offset + i].toDouble())
        val p = scratch
        for (i in 0 until v) p[i] = StrictMath.exp(logits[offset + i].toDouble() - max)
        var total = 0.0                     // the running sum's last entry (docs/sampler.md)
        for (i in 0 until v) total += p[i]
        val threshold = u * total
        var cdf = 0.0
        var count = 0
        for (i in 0 until v) {
            cdf += p[i]
            if (cdf <= threshold) count++
        }
        val pick = Math.min(count, v - 1)
        return Pick(pick, (logits[offset + pick].toDouble() - max) - StrictMath.log(total))
    }

    /**
     * Fill the unknown tokens of one window. [tokens] (N,) (values at unknown positions are ignored), [known] (N,).
     * [logitsFn] maps (splits, N) sub-tokens to (splits, N, 2^subBits) float32 logits, both row-major.
     * [progress] is called with 1 after each model call.
     */
    fun maskgitDecode(
        logitsFn: (LongArray) -> FloatArray, tokens: IntArray, known: BooleanArray, splits: Int, subBits: Int,
        maskId: Int, steps: Int = 12, seed: Long = 0, temperature: Double = DEFAULT_TEMPERATURE,
        progress: ((Int) -> Unit)? = null
    ): IntArray {
        if (steps <= 0) throw IllegalArgumentException("steps must be positive")
        val n = tokens.size
        val v = 1 shl subBits
        val gen = Generator(seed)
        val out = IntArray(n) { if (known[it]) tokens[it] else 0 }
        val fixed = known.copyOf()
        val unknown = known.count { !it }
        val scratch = DoubleArray(v)
        for (step in 0 until steps) {
            val masked = (0 until n).filter { !fixed[it] }.toIntArray()
            if (masked.isEmpty()) break
            val logits = logitsFn(Tokens.subTokensOf(out, fixed, splits, subBits, maskId))
            require(logits.size == splits * n * v) { "the transformer returned ${logits.size} logits, not $splits x $n x $v" }
            val g = gen.derive(step.toLong())
            val m = masked.size
            val picks = IntArray(m)
            val confidence = DoubleArray(m)
            // sub-token by sub-token, as numpy accumulates: confidence = 0 + logp_0 + logp_1 + ...
            for (j in 0 until splits) for (rank in 0 until m) {
                val pick = sampleCategorical(logits, (j * n + masked[rank]) * v, v, g.uniform((rank * splits + j).toLong()), scratch)
                picks[rank] = picks[rank] or (pick.index shl (j * subBits))
                confidence[rank] += pick.logProbability
            }
            val anneal = temperature * (1.0 - (step + 1).toDouble() / steps)
            val noise = g.derive(1L shl 32)
            for (rank in 0 until m) {
                val gumbel = -StrictMath.log(-StrictMath.log(noise.uniform(rank.toLong())))
                confidence[rank] += anneal * gumbel
            }
            val remaining = Math.min(cosineRemaining(unknown, step, steps), m - 1)
            // least confident first, ties by rank: a stable sort (NaN last, -0.0 == 0.0, as numpy)
            val order = (0 until m).sortedWith(Comparator { a, b -> compareAsNumpy(confidence[a], confidence[b]) })
            for (k in remaining until m) {
                val rank = order[k]
                out[masked[rank]] = picks[rank]
                fixed[masked[rank]] = true
            }
            progress?.invoke(1)
        }
        return out
    }

    /**
     * How the model rates the shown [tokens] at [positions] against its own top choice (sampler.py's
     * `draft_scores`): in float64, the sum over sub-tokens j of L[j][n][sub_j(token)] - max_v L[j][n][v]
     * (0: the model's top choice for every sub-token). No exp or log, so ports agree exactly.
     */
    fun draftScores(logits: FloatArray, tokens: IntArray, positions: IntArray, splits: Int, subBits: Int): DoubleArray {
        val n = tokens.size
        val v = 1 shl subBits
        val mask = v - 1
        val score = DoubleArray(positions.size)
        // sub-token by sub-token, as numpy accumulates: score = 0 + (L_0 - max_0) + (L_1 - max_1) + ...
        for (j in 0 until splits) for ((m, pos) in positions.withIndex()) {
            val row = (j * n + pos) * v
            var top = logits[row].toDouble()
            for (c in 1 until v) top = Math.max(top, logits[row + c].toDouble())
            val sub = (tokens[pos] shr (j * subBits)) and mask
            score[m] += logits[row + sub].toDouble() - top
        }
        return score
    }

    /**
     * Start from a draft and revise it (sampler.py's `revise_decode`). One call shows the model every token:
     * the known ones and [draft] (N,) at the unknown positions. The drafted tokens it rates more than
     * [threshold] below its top choice ([draftScores]) are masked again and filled by [maskgitDecode] in
     * [steps] steps with the same seed; every other drafted token is kept. Calls: 1 + steps (1 when every
     * drafted token is kept).
     */
    fun reviseDecode(
        logitsFn: (LongArray) -> FloatArray, tokens: IntArray, known: BooleanArray, draft: IntArray, splits: Int,
        subBits: Int, maskId: Int, steps: Int = 4, seed: Long = 0, threshold: Double = 2.0,
        temperature: Double = DEFAULT_TEMPERATURE, progress: ((Int) -> Unit)? = null
    ): IntArray {
        if (steps < 0) throw IllegalArgumentException("steps must be 0 or more")
        val n = tokens.size
        require(known.size == n && draft.size == n) { "tokens, known and draft differ in length" }
        val shown = IntArray(n) { if (known[it]) tokens[it] else draft[it] }
        val unknown = (0 until n).filter { !known[it] }.toIntArray()
        if (unknown.isEmpty()) return shown
        val logits = logitsFn(Tokens.subTokensOf(shown, BooleanArray(n) { true }, splits, subBits, maskId))
        require(logits.size == splits * n * (1 shl subBits)) {
            "the transformer returned ${logits.size} logits, not $splits x $n x ${1 shl subBits}"
        }
        progress?.invoke(1)
        val score = draftScores(logits, shown, unknown, splits, subBits)
        val fixed = known.copyOf()
        for ((m, pos) in unknown.withIndex()) if (score[m] >= -threshold) fixed[pos] = true
        if (fixed.all { it }) return shown
        // steps 0: MaskGIT's one step, on the scoring call's logits (docs/sampler.md): no second call
        if (steps == 0) return maskgitDecode({ logits }, shown, fixed, splits, subBits, maskId, 1, seed, temperature)
        return maskgitDecode(logitsFn, shown, fixed, splits, subBits, maskId, steps, seed, temperature, progress)
    }

    private fun compareAsNumpy(a: Double, b: Double): Int = when {
        a < b -> -1
        a > b -> 1
        a == b -> 0
        a.isNaN() && b.isNaN() -> 0
        a.isNaN() -> 1
        else -> -1
    }
}
