package tokenreel.core

/**
 * Decoding token grids larger than a fixed-size exported decoder (a reframed canvas): overlapping tiles of
 * the decoder's size, each with its own causal state, cross-faded with linear ramps in the overlaps; and
 * encoding frames larger than a fixed-size exported encoder (a reframe's pixel draft) over such tiles, each
 * latent position from the tile it lies deepest in (ported from tokenreel/runtime/tiles.py).
 */
object Tiles {
    const val MIN_OVERLAP = 4       // latent positions shared by neighbouring tiles

    private fun ramp(start: Int, size: Int, total: Int, fade: Int): FloatArray = FloatArray(size) { i ->
        val d = i + 0.5f
        var w = 1f
        if (start > 0) w = Math.min(w, d / fade)
        if (start + size < total) w = Math.min(w, (size - 1 - i + 0.5f) / fade)
        w
    }

    /**
     * One decoder step over (T', bits, H, W) latents, H x W at least [tileH] x [tileW]. [step] decodes one
     * tile of latents with its state. [states]: null at the start of a video, then what this returned.
     */
    fun decodeTiled(step: (FloatTensor, Any?) -> StepOutput, latents: FloatTensor, states: Map<List<Int>, Any?>?,
                    tileH: Int, tileW: Int, spatial: Int): Pair<FloatTensor, Map<List<Int>, Any?>> {
        val (t, bits, hh, ww) = latents.shape.toList()
        require(hh >= tileH && ww >= tileW) { "latent grid ${hh}x$ww is smaller than the decoder tile ${tileH}x$tileW" }
        val corners = ArrayList<List<Int>>()
        for (y in Edit.tileStarts(hh, tileH, MIN_OVERLAP)) for (x in Edit.tileStarts(ww, tileW, MIN_OVERLAP)) corners.add(listOf(y, x))
        val fade = MIN_OVERLAP * spatial
        val outH = hh * spatial
        val outW = ww * spatial
        var out: FloatTensor? = null
        val weight = FloatArray(outH * outW)
        val newStates = LinkedHashMap<List<Int>, Any?>()
        for (corner in corners) {
            val (y0, x0) = corner
            val tile = FloatTensor(intArrayOf(t, bits, tileH, tileW))
            for (a in 0 until t * bits) for (y in 0 until tileH) {
                System.arraycopy(latents.data, (a * hh + y0 + y) * ww + x0, tile.data, (a * tileH + y) * tileW, tileW)
            }
            val result = step(tile, states?.get(corner))
            newStates[corner] = result.state
            val frames = result.tensor
            val (f, c, th, tw) = frames.shape.toList()
            val acc = out ?: FloatTensor(intArrayOf(f, c, outH, outW)).also { out = it }
            val ry = ramp(y0 * spatial, th, outH, fade)
            val rx = ramp(x0 * spatial, tw, outW, fade)
            for (y in 0 until th) for (x in 0 until tw) {
                val w = ry[y] * rx[x]
                val pos = (y0 * spatial + y) * outW + x0 * spatial + x
                weight[pos] += w
                for (fc in 0 until f * c) acc.data[fc * outH * outW + pos] += frames.data[(fc * th + y) * tw + x] * w
            }
        }
        val result = out!!
        val plane = outH * outW
        for (i in result.data.indices) result.data[i] /= weight[i % plane]
        return Pair(result, newStates)
    }

    /**
     * [(start, lo, hi)]: each tile of [Edit.tileStarts] and the span [lo, hi) it supplies, the overlaps split at
     * their middle (a position comes from the tile it lies deepest in; tiles.py `_owners`).
     */
    fun owners(length: Int, size: Int, minOverlap: Int = MIN_OVERLAP): List<IntArray> {
        val starts = Edit.tileStarts(length, size, Math.min(minOverlap, size / 2))   // a small tile overlaps by at most half
        val cuts = IntArray(starts.size + 1) { i -> if (i == 0) 0 else if (i == starts.size) length else (starts[i] + starts[i - 1] + size) / 2 }
        return starts.mapIndexed { i, s -> intArrayOf(s, cuts[i], cuts[i + 1]) }
    }

    /**
     * One encoder step over (F, 3, H*s, W*s) frames larger than [tileH] x [tileW] latent positions: a reframe's
     * canvas drafted in pixels, on an encoder exported for the source's size. [step] encodes one tile of frames
     * with its state into a (..., tileH, tileW) latent. [states]: null at the start of a video, then what this
     * returned. -> the (..., H, W) latent. Each tile keeps its own causal state; a latent position comes from
     * the tile it lies deepest in, so it saw the most real surroundings (a tile's border saw zero padding).
     */
    fun encodeTiled(step: (FloatTensor, Any?) -> StepOutput, frames: FloatTensor, states: Map<List<Int>, Any?>?,
                    tileH: Int, tileW: Int, spatial: Int): Pair<FloatTensor, Map<List<Int>, Any?>> {
        val (f, c, ph, pw) = frames.shape.toList()
        val hh = ph / spatial
        val ww = pw / spatial
        require(hh >= tileH && ww >= tileW) { "frames of ${ww}x$hh latent positions are smaller than the encoder tile ${tileW}x$tileH" }
        val th = tileH * spatial
        val tw = tileW * spatial
        var out: FloatTensor? = null
        val newStates = LinkedHashMap<List<Int>, Any?>()
        for ((y, yLo, yHi) in owners(hh, tileH)) for ((x, xLo, xHi) in owners(ww, tileW)) {
            val tile = FloatTensor(intArrayOf(f, c, th, tw))
            for (a in 0 until f * c) for (row in 0 until th) {
                System.arraycopy(frames.data, (a * ph + y * spatial + row) * pw + x * spatial, tile.data, (a * th + row) * tw, tw)
            }
            val corner = listOf(y, x)
            val result = step(tile, states?.get(corner))
            newStates[corner] = result.state
            val latent = result.tensor
            val n = latent.shape.size
            val lh = latent.shape[n - 2]
            val lw = latent.shape[n - 1]
            val lead = latent.data.size / (lh * lw)
            val acc = out ?: FloatTensor(latent.shape.copyOf().also { it[n - 2] = hh; it[n - 1] = ww }).also { out = it }
            for (a in 0 until lead) for (yy in yLo until yHi) {
                System.arraycopy(latent.data, (a * lh + yy - y) * lw + xLo - x, acc.data, (a * hh + yy) * ww + xLo, xHi - xLo)
            }
        }
        return Pair(out!!, newStates)
    }
}

/**
 * An encoder backend of a fixed frame size (an export) as one that takes larger frames: each step runs over
 * overlapping tiles of that size ([Tiles.encodeTiled]); decoding is the backend's. Used for drafts only: tile
 * borders are not the server's tokens (tiles.py `TiledEncoder`).
 */
class TiledEncoder(val backend: TokenizerBackend, val tileH: Int, val tileW: Int) : TokenizerBackend by backend {
    /** Tiles of the backend's fixed frame size (an export). */
    constructor(backend: TokenizerBackend) : this(backend, frameSizeOf(backend)[1] / backend.spatial,
                                                  frameSizeOf(backend)[0] / backend.spatial)

    private companion object {
        fun frameSizeOf(backend: TokenizerBackend) =
            backend.frameSize ?: throw IllegalArgumentException("TiledEncoder: the encoder takes frames of any size")
    }

    override val frameSize: IntArray? get() = null

    override fun encodeStep(frames: FloatTensor, state: Any?): StepOutput {
        @Suppress("UNCHECKED_CAST")
        val states = state as Map<List<Int>, Any?>?
        val (latent, next) = Tiles.encodeTiled({ tile, s -> backend.encodeStep(tile, s) }, frames, states, tileH, tileW, backend.spatial)
        return StepOutput(latent, next)
    }
}
