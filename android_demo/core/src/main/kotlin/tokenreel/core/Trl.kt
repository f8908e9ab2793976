package tokenreel.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.CRC32

/**
 * Zstandard, supplied by the caller: the plain module has none (the Android app wraps
 * com.github.luben:zstd-jni). Without one, .trl files with a zstd payload cannot be read or written.
 */
interface Zstd {
    fun compress(data: ByteArray, level: Int): ByteArray

    /** Decompress one frame; fail if it holds more than [maxOutputSize] bytes. */
    fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray
}

/**
 * A token file's grid and its header (docs/trl-format.md): the file's JSON fields and grid, frames, coder (as
 * trl.read returns them, for either version). A partial read ([Trl.read] with partial = true) adds version,
 * complete, chunks and, when the file is incomplete, stopped (why): [tokens] then holds every complete chunk.
 */
class TrlFile(val tokens: TokenGrid, val header: Map<String, Any?>) {
    val bits get() = header.int("bits")
    val frames get() = header.int("frames")
    val fps get() = (header["fps"] as Number).toDouble()
    /** False only for a file read partially that is not whole (a version-2 file cut short or corrupt). */
    val complete get() = header["complete"] as? Boolean ?: true
    /** Why a partial read stopped before the file's end (null when complete). */
    val stopped get() = header["stopped"] as? String
    /** Complete chunks read (a version-1 file is one), when read partially. */
    val chunks get() = (header["chunks"] as? Long)?.toInt()
}

/**
 * The `.trl` token file, ported from tokenreel/runtime/trl.py: version 2 (a stream of chunks) and version 1 are
 * read; [write] writes version 2 ([TrlWriter]), [pack] version 1 (as trl.pack: the golden files).
 */
object Trl {
    internal val MAGIC = byteArrayOf(0x89.toByte(), 'T'.toByte(), 'R'.toByte(), 'L'.toByte())
    const val VERSION = 1
    const val VERSION_STREAM = 2               // docs/trl-format.md, "Version 2: a stream of chunks"
    const val MAX_HEADER = 1 shl 16
    // the limits of docs/trl-format.md, "Limits for readers (all ports)": trl.py's constants of the same names
    const val MAX_HEADER_DEPTH = 8             // JSON nesting (the known fields need 2)
    const val MAX_TOKENS = 1 shl 23            // T*H*W: 32 MiB of int32 tokens; ~10 min of 30 fps video at 256x448
    const val MAX_GRID_SIDE = 1024
    const val MAX_BITS = 24
    const val MAX_FRAMES = 4 * MAX_TOKENS + 1
    const val ANS_TOKENS_PER_BYTE = 16         // ans-ctx, ans-wave: T*H*W <= 16 * payload bytes + 16384 (one coder call a token)
    const val ANS_FREE_TOKENS = 1 shl 14
    const val WAVES_PER_BYTE = 1               // ans-wave also: W + H + 2T - 3 waves <= payload bytes + 1024 (a coder
    const val FREE_WAVES = 1 shl 10            // call each, whatever its size: a T x 1 x 1 grid is T waves of one token)
    const val ZSTD = "zstd"
    const val ANS_CTX = "ans-ctx"
    const val ANS_WAVE = "ans-wave"
    val CODERS = listOf(ZSTD, ANS_CTX, ANS_WAVE)
    val ANS_CODERS = listOf(ANS_CTX, ANS_WAVE)
    /** What the writer tries unless asked (trl.DEFAULT_CODERS), in its order: the first of equal sizes wins. */
    val DEFAULT_CODERS = listOf(ANS_WAVE, ZSTD)
    private val REQUIRED = listOf("tokenizer", "tokenizer_sha256", "grid", "bits", "fps", "size", "frames", "coder")
    /** A version-2 file header's required fields (trl.REQUIRED_STREAM). */
    internal val REQUIRED_STREAM = listOf("tokenizer", "tokenizer_sha256", "grid_hw", "bits", "fps", "size")
    /** Fields a reader derives and returns, never taken from a version-2 file's JSON (trl.FILE_FIELDS). */
    val FILE_FIELDS = listOf("grid", "grid_hw", "frames", "coder", "planes_crc32", "version", "complete", "chunks", "stopped")
    const val MAX_CHUNKS = 1 shl 16            // version 2: chunks a file
    const val CHUNK_FRAMES = 16                // latent frames a chunk when writing: 64 video frames, ~2 s at 30 fps
    const val MAX_CHUNK_SLACK = 64             // a chunk's payload <= its packed planes + 1/256 + 64
    /** A version-2 chunk's coder byte is 1 + its index here (trl.CHUNK_CODERS). */
    val CHUNK_CODERS = listOf(ANS_WAVE, ZSTD)
    private val SHA256 = Regex("[0-9a-f]{64}")

    // the header as a schema: parsed JSON holds whole numbers as Long (a Double is never an integer field)
    private fun intIn(v: Any?, lo: Long, hi: Long) = v is Long && v in lo..hi
    private fun intList(v: Any?, n: Int, lo: Long, hi: Long) = v is List<*> && v.size == n && v.all { intIn(it, lo, hi) }
    private fun string(v: Any?, most: Int) = v is String && v.codePointCount(0, v.length) in 1..most  // Python's len()
    private fun grid(v: Any?) = intList(v, 3, 1, MAX_TOKENS.toLong()) && (v as List<*>).let {
        val (t, h, w) = it.map { x -> x as Long }
        h <= MAX_GRID_SIDE && w <= MAX_GRID_SIDE && t * h * w <= MAX_TOKENS
    }

    /** A header field: its key, what it must be, and the check. */
    private class Field(val key: String, val what: String, val ok: (Any?) -> Boolean)

    /** trl.py's _FIELDS, in its order, so that every reader names the same field first. */
    private val FIELDS = listOf(
        Field("tokenizer", "a string of 1 to 256 characters") { string(it, 256) },
        Field("tokenizer_sha256", "64 lowercase hex digits") { it is String && SHA256.matches(it) },
        Field("grid", "[T, H, W] of integers, H and W at most $MAX_GRID_SIDE, T*H*W at most $MAX_TOKENS tokens") { grid(it) },
        Field("grid_hw", "[H, W] of integers from 1 to $MAX_GRID_SIDE") { intList(it, 2, 1, MAX_GRID_SIDE.toLong()) },
        Field("bits", "an integer from 1 to $MAX_BITS") { intIn(it, 1, MAX_BITS.toLong()) },
        Field("coder", "zstd, ans-ctx or ans-wave") { it in CODERS },
        Field("fps", "a number from 0.01 to 1000") { (it is Long || it is Double) && (it as Number).toDouble() in 0.01..1000.0 },
        Field("frames", "an integer from 1 to $MAX_FRAMES") { intIn(it, 1, MAX_FRAMES.toLong()) },
        Field("size", "[width, height], 1 to ${8 * MAX_GRID_SIDE} px") { intList(it, 2, 1, 8L * MAX_GRID_SIDE) },
        Field("source_size", "[width, height], 1 to 65536 px") { intList(it, 2, 1, 1L shl 16) },
        Field("resize", "a string of at most 1024 characters") { it is String && it.codePointCount(0, it.length) <= 1024 },
        Field("planes_crc32", "an integer from 0 to 2^32 - 1") { intIn(it, 0, 0xffffffffL) }
    )

    /** A header's grid, bits and coder, once [checkHeader] has passed it. */
    data class Shape(val t: Int, val h: Int, val w: Int, val bits: Int, val coder: String)

    /**
     * Validate a parsed header as the schema of docs/trl-format.md (trl.check_header): the one place header
     * fields are checked; nothing reads them before. Throws a one-line [TokenreelException].
     */
    fun checkHeader(header: Any?, where: String = "token file", hint: Boolean = true): Shape {
        checkSchema(header, where, hint, REQUIRED)
        val (t, h, w) = (header as Map<*, *>).list("grid").map { (it as Long).toInt() }
        return Shape(t, h, w, header.int("bits"), header["coder"] as String)
    }

    /** The schema with a version's required keys (trl.check_header's `required`). */
    internal fun checkSchema(header: Any?, where: String, hint: Boolean, required: List<String>) {
        fun bad(why: String) = TokenreelException("$where: $why" + if (hint) "; re-encode the video with `tokenreel encode`" else "")
        if (header !is Map<*, *>) throw bad("corrupt header (not a JSON object)")
        val missing = required.filter { it !in header }
        if (missing.isNotEmpty()) throw bad("header lacks ${missing.joinToString(", ")}")
        for (f in FIELDS) {
            if (f.key in header && !f.ok(header[f.key])) throw bad("header field '${f.key}' is ${show(header[f.key])}; it must be ${f.what}")
        }
    }

    private fun show(v: Any?): String = Json.write(v).let { if (it.length <= 60) it else it.take(57) + "..." }

    /** A header's JSON as a reader takes it: strict UTF-8 and JSON, at most [MAX_HEADER_DEPTH] deep. */
    internal fun parseHeader(bytes: ByteArray, offset: Int, length: Int): Any? {
        val text = try {
            Charsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes, offset, length)).toString()
        } catch (e: java.nio.charset.CharacterCodingException) {
            throw Json.ParseException("not UTF-8")
        }
        return Json.parse(text, MAX_HEADER_DEPTH, strict = true)
    }

    /** Bytes of the packed bit planes of a grid (the zstd coder's decompressed size). */
    fun rawLength(t: Int, bits: Int, h: Int, w: Int): Long = (t.toLong() * bits * h * w + 7) / 8

    /** The longest payload either coder writes for a grid (trl.max_payload); readers refuse longer ones. */
    fun maxPayload(t: Int, bits: Int, h: Int, w: Int): Long = rawLength(t, bits, h, w).let { it + it / 256 + 4096 }

    /** The largest file a reader reads: the largest payload a writer makes for the largest grid, plus the header. */
    val MAX_FILE: Long = 12L + MAX_HEADER + 8 + maxPayload(MAX_TOKENS, MAX_BITS, 1, 1) + 4

    /** The longest payload a version-2 chunk of n latent frames may have (trl.max_chunk_payload). */
    fun maxChunkPayload(n: Int, bits: Int, h: Int, w: Int): Long = rawLength(n, bits, h, w).let { it + it / 256 + MAX_CHUNK_SLACK }

    /** The largest version-2 file: the largest payloads plus 84 bytes a chunk (trl.MAX_FILE_STREAM, ~30.8 MB). */
    val MAX_FILE_STREAM: Long = 16L + MAX_HEADER + MAX_CHUNKS.toLong() * (16 + 4 + MAX_CHUNK_SLACK) +
        rawLength(MAX_TOKENS, MAX_BITS, 1, 1) * 257 / 256 + 16 + 4

    /**
     * The ANS coders' cost must be justified by the payload (trl.ans_admissible): at most [ANS_TOKENS_PER_BYTE]
     * tokens a payload byte beyond [ANS_FREE_TOKENS] (ans-ctx decodes one token per coder call) and, for
     * ans-wave, at most [WAVES_PER_BYTE] waves beyond [FREE_WAVES] (one coder call each, whatever its size).
     */
    fun ansAdmissible(t: Int, h: Int, w: Int, payloadLength: Long, coder: String = ANS_CTX): Boolean =
        t.toLong() * h * w <= ANS_TOKENS_PER_BYTE * payloadLength + ANS_FREE_TOKENS &&
            (coder != ANS_WAVE || AnsWave.waves(t, h, w) <= WAVES_PER_BYTE * payloadLength + FREE_WAVES)

    /** planes[t][i][y][x] = bit i of token (t, y, x), flattened in (t, i, y, x) order. */
    fun toPlanes(tokens: TokenGrid, bits: Int): ByteArray {
        val plane = tokens.h * tokens.w
        val out = ByteArray(tokens.t * bits * plane)
        for (t in 0 until tokens.t) for (i in 0 until bits) for (p in 0 until plane) {
            out[(t * bits + i) * plane + p] = ((tokens.data[t * plane + p] shr i) and 1).toByte()
        }
        return out
    }

    fun fromPlanes(planes: ByteArray, t: Int, bits: Int, h: Int, w: Int): TokenGrid {
        val grid = TokenGrid(t, h, w)
        val plane = h * w
        for (tt in 0 until t) for (i in 0 until bits) for (p in 0 until plane) {
            if (planes[(tt * bits + i) * plane + p].toInt() != 0) grid.data[tt * plane + p] = grid.data[tt * plane + p] or (1 shl i)
        }
        return grid
    }

    /**
     * tokens -> the bytes of a .trl file. [meta]: the header fields except grid and coder; [coder] null: the smaller
     * of [DEFAULT_CODERS] (ans-wave alone when no [zstd] is supplied), as trl.pack.
     */
    fun pack(tokens: TokenGrid, meta: Map<String, Any?>, coder: String? = null, zstd: Zstd? = null): ByteArray {
        val bits = meta.int("bits")
        if (bits !in 1..MAX_BITS) throw IllegalArgumentException("bits $bits: 1 to $MAX_BITS")
        if (tokens.t.toLong() * tokens.h * tokens.w > MAX_TOKENS) {
            throw TokenreelException("a grid of ${tokens.t}x${tokens.h}x${tokens.w} tokens is more than a .trl holds " +
                "($MAX_TOKENS tokens); encode a shorter or smaller clip")
        }
        if (coder != null && coder !in CODERS) throw IllegalArgumentException("unknown coder '$coder'")
        if (coder == ZSTD && zstd == null) throw TokenreelException("writing a zstd .trl needs a Zstd implementation")
        val (t, h, w) = Triple(tokens.t, tokens.h, tokens.w)
        val planes = toPlanes(tokens, bits)
        val packed = packBits(planes)
        var best: Pair<String, ByteArray>? = null
        for (name in if (coder == null) DEFAULT_CODERS else listOf(coder)) {
            if (name == ZSTD && zstd == null) continue      // ans-wave alone when no zstd is supplied
            val payload = when (name) {
                ZSTD -> zstd!!.compress(packed, 19)
                ANS_CTX -> AnsCtx.encode(planes, t, bits, h, w)
                else -> AnsWave.encode(tokens, bits)
            }
            // an ANS payload over its cost bound (a very redundant grid) would be refused by readers
            if (payload.size > maxPayload(t, bits, h, w) || (name in ANS_CODERS && !ansAdmissible(t, h, w, payload.size.toLong(), name))) continue
            if (best == null || payload.size < best.second.size) best = Pair(name, payload)
        }
        val (name, payload) = best ?: throw TokenreelException("the ${coder ?: ANS_WAVE} payload of this ${t}x${h}x$w grid " +
            "would be refused by readers (over the cost bound of $ANS_TOKENS_PER_BYTE tokens a byte, or a wave a byte); write it with zstd")
        val header = LinkedHashMap<String, Any?>(meta)
        // computed from the grid written here, never carried over from a source file's header
        header["planes_crc32"] = planesCrc32(packed, t, bits, h, w)
        header["grid"] = listOf(tokens.t.toLong(), tokens.h.toLong(), tokens.w.toLong())
        header["coder"] = name
        val headerBytes = Json.write(header).toByteArray(Charsets.UTF_8)
        // checked as a reader checks it: the writer never writes a file readers refuse
        if (headerBytes.size > MAX_HEADER) throw IllegalArgumentException("the header is ${headerBytes.size} bytes, more than $MAX_HEADER")
        val written = try { parseHeader(headerBytes, 0, headerBytes.size) } catch (e: Json.ParseException) {
            throw TokenreelException("cannot write a .trl: its header would not read back (${e.message})")
        }
        checkHeader(written, "cannot write a .trl", hint = false)
        val buf = ByteBuffer.allocate(12 + headerBytes.size + 8 + payload.size + 4).order(ByteOrder.LITTLE_ENDIAN)
        buf.put(MAGIC).put(VERSION.toByte()).put(0).putShort(0).putInt(headerBytes.size)
        buf.put(headerBytes).putLong(payload.size.toLong()).put(payload)
        val crc = CRC32()
        crc.update(buf.array(), 0, buf.position())
        buf.putInt(crc.value.toInt())
        return buf.array()
    }

    /**
     * bytes -> grid and header; every field is checked, in the order of docs/trl-format.md, before it sizes anything.
     * A version-2 file must be complete; with [partial] a version-2 file cut short or corrupt gives the tokens of
     * every complete chunk before the fault instead of an error ([TrlFile.complete], [TrlFile.stopped]), as
     * trl.unpack(data, partial=True). A file whose own header is bad is an error either way.
     */
    fun unpack(data: ByteArray, where: String = "token file", zstd: Zstd? = null, partial: Boolean = false): TrlFile {
        fun bad(why: String) = TokenreelException("$where: $why; re-encode the video with `tokenreel encode`")
        if (data.size < 5 || !(0 until 4).all { data[it] == MAGIC[it] } || (data[4].toInt() == VERSION && data.size < 24)) {
            throw bad("not a .trl token file (wrong magic bytes)")
        }
        val version = data[4].toInt() and 0xff
        if (version == VERSION_STREAM) return TrlStream.read(data, where, zstd, partial)
        if (version != VERSION) throw bad(".trl version $version is not supported (this reader reads versions $VERSION and $VERSION_STREAM)")
        val file = unpackV1(data, where, zstd)
        if (!partial) return file
        return TrlFile(file.tokens, LinkedHashMap(file.header).apply { put("version", VERSION.toLong()); put("complete", true); put("chunks", 1L) })
    }

    /** A version-1 file's bytes (magic and version checked) -> grid and header. */
    private fun unpackV1(data: ByteArray, where: String, zstd: Zstd?): TrlFile {
        fun bad(why: String) = TokenreelException("$where: $why; re-encode the video with `tokenreel encode`")
        val buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN)
        val headerLength = buf.getInt(8).toLong() and 0xffffffffL
        if (headerLength > MAX_HEADER || 12 + headerLength + 12 > data.size) throw bad("truncated or corrupt header")
        val crc = CRC32()
        crc.update(data, 0, data.size - 4)
        if (crc.value != (buf.getInt(data.size - 4).toLong() and 0xffffffffL)) throw bad("checksum mismatch: the file is truncated or corrupt")
        val hlen = headerLength.toInt()
        val parsed = try { parseHeader(data, 12, hlen) } catch (e: Json.ParseException) { throw bad("corrupt header (${e.message})") }
        val (t, h, w, bits, coder) = checkHeader(parsed, where)
        @Suppress("UNCHECKED_CAST") val header = parsed as Map<String, Any?>
        val payloadLength = buf.getLong(12 + hlen)
        val start = 12 + hlen + 8
        if (payloadLength < 0 || start + payloadLength + 4 != data.size.toLong()) throw bad("payload length does not match the file size")
        if (payloadLength > maxPayload(t, bits, h, w)) {
            throw bad("a $payloadLength-byte payload is longer than any coder writes for a ${t}x${h}x$w grid")
        }
        if (coder in ANS_CODERS && !ansAdmissible(t, h, w, payloadLength, coder)) {
            throw bad("a $payloadLength-byte $coder payload cannot hold a ${t}x${h}x$w grid")
        }
        if (coder == ZSTD && zstd == null) {
            throw bad("the payload is zstd-compressed and this build has no Zstandard decoder (pass a Zstd implementation)")
        }
        val payload = data.copyOfRange(start, start + payloadLength.toInt())
        var raw: ByteArray? = null          // the packed planes, when the coder had them (zstd)
        var grid: TokenGrid? = null         // the tokens, when the coder had them (ans-wave)
        val planes = try {
            when (coder) {
                ZSTD -> {
                    raw = decodeZstd(payload, t, bits, h, w, zstd!!)
                    unpackBits(raw, t, bits, h, w)
                }
                ANS_CTX -> AnsCtx.decode(payload, t, bits, h, w)
                else -> {
                    grid = TokenGrid(t, h, w, AnsWave.decode(payload, t, bits, h, w))
                    null
                }
            }
        } catch (e: RuntimeException) {  // a corrupt payload can fail inside the coder in many ways
            throw bad("payload does not decode (${e.message ?: e.javaClass.simpleName})")
        }
        if ("planes_crc32" in header) {
            if (planesCrc32(raw ?: packBits(planes ?: toPlanes(grid!!, bits)), t, bits, h, w) != header["planes_crc32"]) {
                throw bad("the payload does not belong to this header (planes_crc32 differs)")
            }
        }
        return TrlFile(grid ?: fromPlanes(planes!!, t, bits, h, w), header)
    }

    /**
     * The header's planes_crc32 (trl.planes_crc32): CRC-32 of T, H, W, D (u32 little-endian each), then the
     * packed bit planes. It binds the payload to the header: another file's payload, or this one read as
     * another shape of the same size, differs.
     */
    fun planesCrc32(packed: ByteArray, t: Int, bits: Int, h: Int, w: Int): Long {
        val shape = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(t).putInt(h).putInt(w).putInt(bits)
        val crc = CRC32()
        crc.update(shape.array())
        crc.update(packed)
        return crc.value
    }

    /** Bit planes (one byte per bit) packed MSB first, the last byte zero-padded (numpy.packbits): the zstd coder's bytes. */
    fun packBits(planes: ByteArray): ByteArray {
        val packed = ByteArray((planes.size + 7) / 8)
        for (i in planes.indices) if (planes[i].toInt() != 0) packed[i shr 3] = (packed[i shr 3].toInt() or (0x80 ushr (i and 7))).toByte()
        return packed
    }

    /**
     * The .trl at [file], as [unpack]: read with a bound (never sized by the file's length alone), so that a file
     * still being written can be read with [partial].
     */
    fun read(file: File, zstd: Zstd? = null, partial: Boolean = false): TrlFile {
        if (!file.isFile) throw TokenreelException("$file: no such token file")
        val limit = Math.max(MAX_FILE, MAX_FILE_STREAM)
        fun tooLarge(size: Long) = TokenreelException("$file: $size bytes, larger than any .trl token file ($limit bytes at most)")
        if (file.length() > limit) throw tooLarge(file.length())
        val data = try {
            java.io.FileInputStream(file).use { input ->
                val out = java.io.ByteArrayOutputStream(Math.min(file.length(), limit).toInt() + 1)
                val chunk = ByteArray(1 shl 16)
                var left = limit + 1
                while (left > 0) {
                    val got = input.read(chunk, 0, Math.min(chunk.size.toLong(), left).toInt())
                    if (got < 0) break
                    out.write(chunk, 0, got)
                    left -= got
                }
                out.toByteArray()
            }
        } catch (e: java.io.IOException) {
            throw TokenreelException("$file: cannot read the token file (${e.message})")
        }
        if (data.size > limit) throw tooLarge(data.size.toLong())
        val stream = data.size >= 5 && (0 until 4).all { data[it] == MAGIC[it] } && data[4].toInt() == VERSION_STREAM
        if (!stream && data.size > MAX_FILE) {
            throw TokenreelException("$file: larger than any .trl token file of version $VERSION ($MAX_FILE bytes at most)")
        }
        return unpack(data, file.path, zstd, partial)
    }

    /**
     * tokens -> the bytes of the version-2 .trl [write] writes (trl.pack_stream): chunks of [chunkFrames] latent
     * frames, the video frames meta["frames"] says (default: every position of the grid) split among them.
     */
    fun packStream(tokens: TokenGrid, meta: Map<String, Any?>, coder: String? = null, chunkFrames: Int = CHUNK_FRAMES,
                   zstd: Zstd? = null): ByteArray {
        val out = java.io.ByteArrayOutputStream()
        writeStream(out, tokens, meta, coder, chunkFrames, zstd)
        return out.toByteArray()
    }

    private fun writeStream(out: java.io.OutputStream, tokens: TokenGrid, meta: Map<String, Any?>, coder: String?,
                            chunkFrames: Int, zstd: Zstd?): Long {
        if (tokens.t < 1) throw IllegalArgumentException("tokens must be (T, H, W), T >= 1")
        val frames = (meta["frames"] as? Number)?.toLong() ?: TrlWriter.frameStart(tokens.t)
        val writer = TrlWriter(out, meta, coder, chunkFrames, zstd)
        for (t0 in 0 until tokens.t step chunkFrames) {
            val t1 = Math.min(tokens.t, t0 + chunkFrames)
            writer.append(tokens.slice(t0, t1), TrlWriter.chunkFrames(frames, t0, t1, tokens.t))
        }
        return writer.close()
    }

    /**
     * Write a version-2 .trl atomically (trl.write): a temp file beside the target, then rename -> bytes written.
     * [coder] "ans-ctx" writes a version-1 file (a version-2 chunk is ans-wave or zstd).
     */
    fun write(file: File, tokens: TokenGrid, meta: Map<String, Any?>, coder: String? = null, zstd: Zstd? = null): Long {
        val tmp = File(file.absoluteFile.parentFile, ".${file.name}.${System.nanoTime()}.tmp")
        try {
            val written = java.io.FileOutputStream(tmp).use { out ->
                val n = if (coder == ANS_CTX) pack(tokens, meta, coder, zstd).also { out.write(it) }.size.toLong()
                    else writeStream(java.io.BufferedOutputStream(out), tokens, meta, coder, CHUNK_FRAMES, zstd)
                out.fd.sync()
                n
            }
            if (!tmp.renameTo(file)) {
                file.delete()
                if (!tmp.renameTo(file)) throw TokenreelException("$file: cannot write the token file")
            }
            return written
        } catch (e: java.io.IOException) {
            throw TokenreelException("$file: cannot write the token file (${e.message})")
        } finally {
            if (tmp.exists()) tmp.delete()
        }
    }

    /** One Zstandard frame that declares exactly the packed planes' size (checked before decompressing), nothing after it. */
    internal fun decodeZstd(payload: ByteArray, t: Int, bits: Int, h: Int, w: Int, zstd: Zstd): ByteArray {
        val bytes = rawLength(t, bits, h, w)
        val declared = zstdFrame(payload)
        if (declared != bytes) {
            throw TokenreelException("the Zstandard frame declares ${declared ?: "no"} content size; the grid needs $bytes bytes")
        }
        val raw = zstd.decompress(payload, bytes.toInt())
        if (raw.size.toLong() != bytes) throw TokenreelException("the zstd payload has the wrong length")
        val pad = (8 * bytes - t.toLong() * bits * h * w).toInt()
        if (pad > 0 && (raw[raw.size - 1].toInt() and ((1 shl pad) - 1)) != 0) {
            throw TokenreelException("the packed planes' padding bits are not zero")
        }
        return raw
    }

    /**
     * Walk one Zstandard frame's header and block headers (RFC 8878 3.1.1) without decompressing: its
     * Frame_Content_Size (null when not declared); throws unless [p] is exactly one frame.
     */
    fun zstdFrame(p: ByteArray): Long? {
        fun le(at: Int, n: Int): Long { var v = 0L; for (k in 0 until n) v = v or ((p[at + k].toLong() and 0xff) shl (8 * k)); return v }
        if (p.size < 6 || le(0, 4) != 0xFD2FB528L) throw TokenreelException("not a Zstandard frame")
        val fhd = p[4].toInt() and 0xff
        if (fhd and 0x08 != 0) throw TokenreelException("not a Zstandard frame (reserved bit set)")
        val single = fhd and 0x20 != 0
        var pos = 5 + (if (single) 0 else 1) + intArrayOf(0, 1, 2, 4)[fhd and 3]
        val fcsSize = intArrayOf(if (single) 1 else 0, 2, 4, 8)[fhd ushr 6]
        if (pos + fcsSize > p.size) throw TokenreelException("a truncated Zstandard frame header")
        val declared = if (fcsSize == 0) null else le(pos, fcsSize) + (if (fcsSize == 2) 256 else 0)
        if (declared != null && declared < 0) throw TokenreelException("the Zstandard frame declares an impossible content size")
        pos += fcsSize
        while (true) {
            if (pos + 3 > p.size) throw TokenreelException("a truncated Zstandard frame")
            val block = le(pos, 3).toInt()
            pos += 3 + when ((block ushr 1) and 3) {
                0, 2 -> block ushr 3        // raw, compressed: Block_Size bytes follow
                1 -> 1                      // RLE: one byte
                else -> throw TokenreelException("a Zstandard block of the reserved type")
            }
            if (pos > p.size) throw TokenreelException("a truncated Zstandard frame")
            if (block and 1 != 0) break
        }
        if (fhd and 0x04 != 0) pos += 4
        if (pos > p.size) throw TokenreelException("a truncated Zstandard frame")
        if (pos != p.size) throw TokenreelException("${p.size - pos} bytes after the Zstandard frame")
        return declared
    }

    internal fun unpackBits(raw: ByteArray, t: Int, bits: Int, h: Int, w: Int): ByteArray {
        val n = t * bits * h * w
        if (raw.size != (n + 7) / 8) throw TokenreelException("zstd payload has the wrong length")
        return ByteArray(n) { i -> ((raw[i shr 3].toInt() ushr (7 - (i and 7))) and 1).toByte() }
    }
}

/**
 * Range ANS on a stack of 32-bit words, as constriction's `stack.AnsCoder` (64-bit state) with
 * `Bernoulli(perfect=False)` (24-bit probabilities): the entropy coder of both ANS payload coders.
 */
internal object Ans {
    const val PROB_BITS = 12                   // the context models' probabilities are k / 4096, k in [1, 4095]
    private const val PRECISION = 24           // constriction's quantization of P(1)
    const val TOTAL = 1 shl PRECISION

    /**
     * Where constriction's Bernoulli(perfect=False) puts the boundary between 0 and 1 for P(1) = k/4096:
     * floor((1 - p) * (2^24 - 2)) + 1, exact in integers because p is a multiple of 2^-12.
     */
    fun boundary(k: Int): Int = (((4096L - k) * (TOTAL - 2)) shr PROB_BITS).toInt() + 1

    /** k of P(1) = k / 4096 from a context's counts: round(4096 c1 / (c0 + c1)) clamped to [1, 4095]. */
    fun k(c0: Long, c1: Long): Int {
        val one = 1L shl PROB_BITS
        return Math.max(1L, Math.min(one - 1, (c1 * one + (c0 + c1) / 2) / (c0 + c1))).toInt()
    }

    /** Encodes bits last first (the stack coder's order); [bytes] is constriction's get_compressed(). */
    class Encoder {
        private val words = IntList()
        private var state = 0L

        /** Push [bit] with the boundary [cut] (of [boundary]): the decoder pops it first of those pushed so far. */
        fun push(bit: Int, cut: Int) {
            val left = if (bit == 0) 0L else cut.toLong()
            val probability = if (bit == 0) cut.toLong() else (TOTAL - cut).toLong()
            if ((state ushr (64 - PRECISION)) >= probability) {
                words.add(state.toInt())
                state = state ushr 32
            }
            val prefix = java.lang.Long.divideUnsigned(state, probability)
            val remainder = java.lang.Long.remainderUnsigned(state, probability)
            state = (prefix shl PRECISION) or (left + remainder)
        }

        /** The words as little-endian bytes: the state goes last, low word first, without leading zero words. */
        fun bytes(): ByteArray {
            val out = ByteBuffer.allocate((words.size + 2) * 4).order(ByteOrder.LITTLE_ENDIAN)
            for (i in 0 until words.size) out.putInt(words[i])
            if (state != 0L) {
                out.putInt(state.toInt())
                if ((state ushr 32) != 0L) out.putInt((state ushr 32).toInt())
            }
            return out.array().copyOf(out.position())
        }
    }

    /** Pops bits in coding order from a payload of whole little-endian 32-bit words (constriction's from_compressed). */
    class Decoder(payload: ByteArray, name: String) {
        private val buf = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN)
        private var remaining = payload.size / 4   // the words form a stack: read from the end
        private var state = 0L

        init {
            if (payload.size % 4 != 0) throw TokenreelException("the $name payload is not whole 32-bit words")
            if (remaining > 0) {
                state = word()
                if (state == 0L) throw TokenreelException("the $name payload ends in a zero word")
                while (remaining > 0) {
                    state = (state shl 32) or word()
                    if (java.lang.Long.compareUnsigned(state, 1L shl 32) >= 0) break
                }
            }
        }

        private fun word(): Long = buf.getInt(--remaining * 4).toLong() and 0xffffffffL

        /** The next bit, coded with the boundary [cut]; once the coder is empty every bit is 0. */
        fun pop(cut: Int): Int {
            val quantile = (state and (TOTAL - 1).toLong()).toInt()
            val one = quantile >= cut
            val left = if (one) cut else 0
            val probability = if (one) TOTAL - cut else cut
            state = (state ushr PRECISION) * probability + (quantile - left)
            if (java.lang.Long.compareUnsigned(state, 1L shl 32) < 0 && remaining > 0) state = (state shl 32) or word()
            return if (one) 1 else 0
        }

        /** The coder is empty: its initial state, no words left (what it must be exactly after the grid's last bit). */
        val isEmpty get() = remaining == 0 && state == 0L
    }

    /** A growable int list (no boxing: payloads run to millions of words). */
    class IntList {
        var data = IntArray(1024)
        var size = 0
        fun add(v: Int) {
            if (size == data.size) data = data.copyOf(size * 2)
            data[size++] = v
        }
        operator fun get(i: Int) = data[i]
    }
}

/**
 * The `ans-ctx` payload coder: each bit coded with range ANS ([Ans]) under an adaptive context model, the
 * counts learning after every token. Byte-identical to the Python writer.
 */
object AnsCtx {
    private const val CONTEXTS = 48

    /** The contexts (one per plane) of token (t, y, x)'s bits from already coded bits; outside the grid a bit is 0. */
    private class Model(val t: Int, val bits: Int, val h: Int, val w: Int, val planes: ByteArray) {
        val counts = IntArray(bits * CONTEXTS * 2) { 1 }
        val ctx = IntArray(bits)
        val k = IntArray(bits)

        private fun bit(tt: Int, i: Int, y: Int, x: Int): Int =
            if (y >= 0 && x >= 0 && x < w) planes[((tt * bits + i) * h + y) * w + x].toInt() else 0

        /** Fill ctx and k (P(1) = k / 4096) for token (tt, y, x). */
        fun prepare(tt: Int, y: Int, x: Int) {
            for (i in 0 until bits) {
                val s = 8 * bit(tt, i, y, x - 1) + 4 * bit(tt, i, y - 1, x - 1) + 2 * bit(tt, i, y - 1, x) + bit(tt, i, y - 1, x + 1)
                val c = if (tt == 0) 32 + s else s + 16 * bit(tt - 1, i, y, x)
                ctx[i] = c
                k[i] = Ans.k(counts[(i * CONTEXTS + c) * 2].toLong(), counts[(i * CONTEXTS + c) * 2 + 1].toLong())
            }
        }

        /** After the token's bits are known: count each under the context it was coded with. */
        fun learn(tt: Int, y: Int, x: Int) {
            for (i in 0 until bits) counts[(i * CONTEXTS + ctx[i]) * 2 + planes[((tt * bits + i) * h + y) * w + x]]++
        }
    }

    fun encode(planes: ByteArray, t: Int, bits: Int, h: Int, w: Int): ByteArray {
        val model = Model(t, bits, h, w, planes)
        val n = t * h * w * bits
        val symbols = ByteArray(n)
        val ks = ShortArray(n)
        var s = 0
        for (tt in 0 until t) for (y in 0 until h) for (x in 0 until w) {
            model.prepare(tt, y, x)
            for (i in 0 until bits) {
                symbols[s] = planes[((tt * bits + i) * h + y) * w + x]
                ks[s] = model.k[i].toShort()
                s++
            }
            model.learn(tt, y, x)
        }
        // encode in reverse so that the decoder pops the symbols in order
        val coder = Ans.Encoder()
        for (j in n - 1 downTo 0) coder.push(symbols[j].toInt(), Ans.boundary(ks[j].toInt()))
        return coder.bytes()
    }

    fun decode(payload: ByteArray, t: Int, bits: Int, h: Int, w: Int): ByteArray {
        val coder = Ans.Decoder(payload, "ans-ctx")
        val planes = ByteArray(t * bits * h * w)
        val model = Model(t, bits, h, w, planes)
        for (tt in 0 until t) for (y in 0 until h) for (x in 0 until w) {
            model.prepare(tt, y, x)
            for (i in 0 until bits) planes[((tt * bits + i) * h + y) * w + x] = coder.pop(Ans.boundary(model.k[i])).toByte()
            model.learn(tt, y, x)
        }
        // the coder must be empty (its initial state, no words left) exactly after the last token; once empty
        // it decodes every further bit as 0, so a payload that runs out early leaves the rest of the grid 0
        if (!coder.isEmpty) throw TokenreelException("the ans-ctx payload holds more than the grid (is it another file's payload?)")
        return planes
    }
}
