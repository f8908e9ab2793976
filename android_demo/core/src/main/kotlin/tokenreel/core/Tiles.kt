package tokenreel.core

/**
 * Decoding token grids larger than a fixed-size exported decoder (a reframed canvas): overlapping tiles of
 * the decoder's size, each with its own causal state, cross-faded with linear ramps in the overlaps
 * (ported from tokenreel/runtime/tiles.py).
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
}
