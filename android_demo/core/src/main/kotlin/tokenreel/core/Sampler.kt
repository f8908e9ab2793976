package tokenreel.core

/**
 * MaskGIT decoding of one window (docs/sampler.md; tokenreel/runtime/sampler.py), pick for pick the same
 * as the Python runtime given the same logits. Sums are plain left-to-right running sums (the total is the
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

    private fun compareAsNumpy(a: Double, b: Double): Int = when {
        a < b -> -1
        a > b -> 1
        a == b -> 0
        a.isNaN() && b.isNaN() -> 0
        a.isNaN() -> 1
        else -> -1
    }
}
