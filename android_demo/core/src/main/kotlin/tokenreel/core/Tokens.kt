package tokenreel.core

/** A (T, H, W) grid of D-bit tokens, row-major (x fastest), as the runtime's numpy arrays. */
class TokenGrid(val t: Int, val h: Int, val w: Int, val data: IntArray = IntArray(t * h * w)) {
    init {
        require(t >= 0 && h >= 0 && w >= 0 && data.size == t * h * w) { "grid $t x $h x $w does not match ${data.size} tokens" }
    }

    fun index(tt: Int, y: Int, x: Int) = (tt * h + y) * w + x
    operator fun get(tt: Int, y: Int, x: Int) = data[index(tt, y, x)]
    operator fun set(tt: Int, y: Int, x: Int, value: Int) { data[index(tt, y, x)] = value }
    val size get() = data.size

    /** grid[t0:t1, y0:y1, x0:x1], a copy (numpy slicing; the ranges must lie inside the grid). */
    fun slice(t0: Int, t1: Int, y0: Int = 0, y1: Int = h, x0: Int = 0, x1: Int = w): TokenGrid {
        val out = TokenGrid(t1 - t0, y1 - y0, x1 - x0)
        for (tt in t0 until t1) for (y in y0 until y1) System.arraycopy(data, index(tt, y, x0), out.data, out.index(tt - t0, y - y0, 0), out.w)
        return out
    }

    override fun equals(other: Any?) =
        other is TokenGrid && other.t == t && other.h == h && other.w == w && other.data.contentEquals(data)
    override fun hashCode() = data.contentHashCode()
    override fun toString() = "TokenGrid($t x $h x $w)"

    companion object {
        /** Grids of one H x W joined in time (np.concatenate along axis 0). */
        fun concat(grids: List<TokenGrid>): TokenGrid {
            val first = grids[0]
            require(grids.all { it.h == first.h && it.w == first.w }) { "grids joined in time must have one H x W" }
            val out = TokenGrid(grids.sumBy { it.t }, first.h, first.w)
            var offset = 0
            for (g in grids) { System.arraycopy(g.data, 0, out.data, offset, g.size); offset += g.size }
            return out
        }
    }
}

/** A float32 array with a shape, the currency of model calls (row-major, as numpy's default). */
class FloatTensor(val shape: IntArray, val data: FloatArray = FloatArray(shape.fold(1) { a, b -> a * b })) {
    init {
        require(shape.fold(1) { a, b -> a * b } == data.size) { "shape ${shape.joinToString("x")} does not match ${data.size} values" }
    }
}

object Tokens {
    /**
     * (N,) tokens -> (splits, N) sub-tokens, row-major, lowest bits first, [maskId] where not [known]
     * (tokenreel/runtime/tokens.py: sub_tokens_of).
     */
    fun subTokensOf(tokens: IntArray, known: BooleanArray, splits: Int, subBits: Int, maskId: Int): LongArray {
        val n = tokens.size
        val out = LongArray(splits * n)
        val low = (1L shl subBits) - 1
        for (j in 0 until splits) for (k in 0 until n) {
            out[j * n + k] = if (known[k]) (tokens[k].toLong() shr (j * subBits)) and low else maskId.toLong()
        }
        return out
    }

    /** (T', bits, H', W') pre-quantization latent -> tokens: bit i is 1 where channel i is >= 0 (LFQ). */
    fun quantize(latent: FloatTensor): TokenGrid {
        val (t, bits, h, w) = latent.shape.toList()
        val grid = TokenGrid(t, h, w)
        for (tt in 0 until t) for (i in 0 until bits) for (y in 0 until h) for (x in 0 until w) {
            if (latent.data[((tt * bits + i) * h + y) * w + x] >= 0f) grid.data[grid.index(tt, y, x)] += 1 shl i
        }
        return grid
    }

    /** Latent frames [t0, t1) of a token grid -> (T, bits, H, W) of +-1: the decoder's input. */
    fun latentsOf(tokens: TokenGrid, bits: Int, t0: Int = 0, t1: Int = tokens.t): FloatTensor {
        val out = FloatTensor(intArrayOf(t1 - t0, bits, tokens.h, tokens.w))
        for (tt in t0 until t1) for (i in 0 until bits) for (y in 0 until tokens.h) for (x in 0 until tokens.w) {
            out.data[(((tt - t0) * bits + i) * tokens.h + y) * tokens.w + x] = if ((tokens[tt, y, x] shr i) and 1 == 1) 1f else -1f
        }
        return out
    }
}
