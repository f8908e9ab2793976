package tokenreel.core

import java.io.File
import java.io.FileInputStream
import java.security.MessageDigest

/** One input or output of an exported model. */
class TensorSpec(val name: String, val shape: IntArray, val dtype: String)

/** One exported model, as its manifest entry describes it (docs/export.md). */
class Artifact(val key: String, val entry: Map<*, *>) {
    val file get() = entry.str("file")
    val format get() = entry.str("format")
    val role get() = entry.str("role")
    val precision get() = entry.str("precision")
    val bytes get() = entry.long("bytes")
    val sha256 get() = entry.str("sha256")
    val inputs get() = specs("inputs")
    val outputs get() = specs("outputs")

    /** (state input, state output) name pairs of a step model, in the order of the manifest. */
    val state: List<Pair<String, String>>
        get() = (entry["state"] as? List<*> ?: emptyList<Any>()).map { val p = it as Map<*, *>; Pair(p.str("input"), p.str("output")) }

    private fun specs(key: String): List<TensorSpec> = (entry[key] as? List<*> ?: emptyList<Any>()).map {
        val s = it as? Map<*, *> ?: throw TokenreelException("manifest entry $this: '$key' holds a non-object")
        TensorSpec(s.str("name"), s.ints("shape"), s.str("dtype"))
    }

    override fun toString() = key
}

/** The export's geometry: token bits, frame size and, when a transformer was exported, its window. */
class Geometry(g: Map<*, *>) {
    val bits = g.int("bits")
    val spatial = g.int("spatial")
    val group = g.int("group")
    /** (width, height) of the frames the step models take. */
    val frameSize = g.ints("frame_size")
    val window: IntArray? = if ("window" in g) g.ints("window") else null
    val splits: Int? = if ("splits" in g) g.int("splits") else null
    val subBits: Int? = if ("sub_bits" in g) g.int("sub_bits") else null
    val maskId: Int? = if ("mask_id" in g) g.int("mask_id") else null
    /** Warm-up calls a video's first input gets per step role (a `replicate` causal start); null: none. */
    val startCalls: StartCalls? = (g["start_calls"] as? Map<*, *>)?.let { StartCalls(it.int("encoder_step"), it.int("decoder_step")) }
}

/**
 * geometry.start_calls (docs/export.md): a tokenizer whose causal start replicates the first frame runs on step
 * models whose states start at zeros, so each video's (and decoder tile's) first input is fed this many times
 * before its real call, only the states kept ([StepModel]).
 */
class StartCalls(val encoderStep: Int, val decoderStep: Int) {
    /** The calls for a step role ("encoder_step" or "decoder_step"). */
    fun of(role: String): Int = when (role) {
        "encoder_step" -> encoderStep
        "decoder_step" -> decoderStep
        else -> throw IllegalArgumentException("no start calls for role $role")
    }
}

/** The fields of tokenreel/runtime/manifest.py `check_manifest` this port validates when it reads, in its words. */
private class Schema(val where: String) {
    fun fail(at: String, why: String): Nothing =
        throw TokenreelException("$where: $at $why; re-export the folder with `tokenreel export`")

    fun obj(v: Any?, at: String, required: List<String>): Map<*, *> {
        if (v !is Map<*, *>) fail(at, "must be an object")
        val missing = required.filter { it !in v }
        if (missing.isNotEmpty()) fail(at, "lacks ${missing.joinToString(", ")}")
        return v
    }

    /** A JSON integer (not a bool or a float such as 6.0) from [lo] to [hi]. */
    fun int(v: Any?, at: String, lo: Int, hi: Int): Int {
        if (v !is Long || v < lo || v > hi) fail(at, "must be an integer from $lo to $hi")
        return v.toInt()
    }

    fun check(json: Map<*, *>) {
        val g = json["geometry"] as? Map<*, *> ?: return
        if ("start_calls" in g) {
            val calls = obj(g["start_calls"], "geometry.start_calls", STEP_ROLES)
            for (role in STEP_ROLES) int(calls[role], "geometry.start_calls.$role", 0, Manifest.MAX_START_CALLS)
        }
    }

    companion object {
        val STEP_ROLES = listOf("encoder_step", "decoder_step")
    }
}

/** An export folder's manifest.json (tokenreel/runtime/manifest.py). */
class Manifest(val folder: File?, val json: Map<*, *>) {
    val schemaVersion get() = json.int("schema_version")
    val geometry get() = Geometry(json.obj("geometry"))
    val sampler get() = json["sampler"] as? String
    val tokenizerId get() = json.obj("weights").obj("tokenizer").str("id")
    val tokenizerSha256 get() = json.obj("weights").obj("tokenizer").str("sha256")
    val transformerSha256: String? get() = (json.obj("weights")["transformer"] as? Map<*, *>)?.get("sha256") as? String
    val artifacts: List<Artifact> get() = json.obj("artifacts").map { (k, v) -> Artifact(k as String, v as Map<*, *>) }

    /** The one artifact of this role, format and precision, or a clear error. */
    fun find(role: String, format: String, precision: String): Artifact =
        artifacts.firstOrNull { it.role == role && it.format == format && it.precision == precision }
            ?: throw TokenreelException("the export has no $format $precision $role; export it with " +
                "`tokenreel export --formats $format --precision $precision`")

    /** The precisions this export holds for [format] (what a settings screen can offer). */
    fun precisions(format: String): List<String> = artifacts.filter { it.format == format }.map { it.precision }.distinct()

    fun fileOf(artifact: Artifact): File = File(folder ?: throw IllegalStateException("a parsed manifest has no folder"), artifact.file)

    /** Refuse the artifact if its file is missing or its size or sha256 differs from the manifest. */
    fun verify(artifact: Artifact) {
        val f = fileOf(artifact)
        if (!f.exists() || pathBytes(f) != artifact.bytes || pathSha256(f) != artifact.sha256) {
            throw TokenreelException("$f: missing or changed since export (sha256 differs from the manifest); re-export the folder")
        }
    }

    companion object {
        const val SCHEMA_VERSION = 1
        /** geometry.start_calls per role, at most (manifest.py). */
        const val MAX_START_CALLS = 64

        /** Parse manifest text; [folder] is where its files are. */
        fun parse(text: String, folder: File? = null, where: String = "manifest.json"): Manifest {
            val json = try {
                Json.parse(text) as? Map<*, *> ?: throw Json.ParseException("not an object")
            } catch (e: Json.ParseException) {
                throw TokenreelException("$where: not a tokenreel export manifest (${e.message})")
            }
            val version = json["schema_version"] ?: throw TokenreelException("$where: not a tokenreel export manifest (no schema_version)")
            if ((version as? Number)?.toLong() != SCHEMA_VERSION.toLong()) {
                throw TokenreelException("$where: schema version $version; this reader reads $SCHEMA_VERSION")
            }
            Schema(where).check(json)
            return Manifest(folder, json)
        }

        /** Load DIR/manifest.json; with [verify], refuse any artifact whose size or sha256 differs. */
        fun read(folder: File, verify: Boolean = true): Manifest {
            val path = File(folder, "manifest.json")
            if (!path.isFile) throw TokenreelException("$folder: no manifest.json; make the folder with `tokenreel export -o $folder`")
            val manifest = parse(path.readText(), folder, path.path)
            if (verify) manifest.artifacts.forEach { manifest.verify(it) }
            return manifest
        }

        fun fileSha256(file: File): String {
            val digest = MessageDigest.getInstance("SHA-256")
            FileInputStream(file).use { input ->
                val buf = ByteArray(1 shl 20)
                while (true) {
                    val n = input.read(buf)
                    if (n < 0) break
                    digest.update(buf, 0, n)
                }
            }
            return hex(digest.digest())
        }

        /** sha256 of a file, or of a folder (a Core ML .mlpackage): its files' relative paths and hashes, sorted. */
        fun pathSha256(path: File): String {
            if (!path.isDirectory) return fileSha256(path)
            val digest = MessageDigest.getInstance("SHA-256")
            for ((relative, file) in filesUnder(path)) {
                digest.update("$relative\u0000${fileSha256(file)}\n".toByteArray(Charsets.UTF_8))
            }
            return hex(digest.digest())
        }

        fun pathBytes(path: File): Long = if (path.isDirectory) filesUnder(path).map { it.second.length() }.sum() else path.length()

        /** Files under a folder by relative path, sorted as Python sorts paths (part by part). */
        private fun filesUnder(root: File): List<Pair<String, File>> =
            root.walkTopDown().filter { it.isFile }.map { Pair(it.relativeTo(root).invariantSeparatorsPath, it) }.toList()
                .sortedWith(Comparator { a, b -> compareParts(a.first.split('/'), b.first.split('/')) })

        private fun compareParts(a: List<String>, b: List<String>): Int {
            for (i in 0 until Math.min(a.size, b.size)) {
                val c = a[i].compareTo(b[i])
                if (c != 0) return c
            }
            return a.size - b.size
        }

        private fun hex(bytes: ByteArray) = bytes.joinToString("") { String.format("%02x", it.toInt() and 0xff) }
    }
}
