package tokenreel.core

/**
 * A minimal JSON reader and writer (no dependency is available to the plain module). Values are
 * Map<String, Any?> (insertion order), List<Any?>, String, Long (numbers without '.', 'e'), Double,
 * Boolean and null. The writer formats like Python's json.dumps(sort_keys=True), so a .trl header
 * written here is byte-identical to the Python runtime's.
 */
object Json {
    class ParseException(message: String) : RuntimeException(message)

    /** A number as JSON (and Python's json) spells it: no "+1", "01", ".5" or "1." */
    private val NUMBER = Regex("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?")

    /**
     * [maxDepth]: how deep arrays and objects may nest (the top value is depth 1). [strict], for untrusted
     * files (.trl headers), reads as tokenreel's errors.load_json does: no NaN or Infinity, no number
     * beyond a double, no key twice in an object.
     */
    fun parse(text: String, maxDepth: Int = 64, strict: Boolean = false): Any? {
        val p = Parser(text, maxDepth, strict)
        p.skipSpace()
        val value = p.value(0)
        p.skipSpace()
        if (p.pos != text.length) throw p.error("unexpected text after the value")
        return value
    }

    private class Parser(val s: String, val maxDepth: Int, val strict: Boolean) {
        var pos = 0

        fun error(why: String) = ParseException("JSON: $why at offset $pos")

        fun skipSpace() { while (pos < s.length && s[pos] in " \t\r\n") pos++ }

        fun value(depth: Int): Any? {
            if (pos >= s.length) throw error("unexpected end")
            if (s[pos] in "{[" && depth >= maxDepth) throw error("nested more than $maxDepth deep")
            return when (s[pos]) {
                '{' -> obj(depth)
                '[' -> array(depth)
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                'N' -> literal("NaN", Double.NaN)                       // Python's json writes these
                'I' -> literal("Infinity", Double.POSITIVE_INFINITY)
                else -> number()
            }
        }

        fun literal(word: String, value: Any?): Any? {
            if (!s.startsWith(word, pos)) throw error("unexpected character '${s[pos]}'")
            if (strict && value is Double) throw error("$word is not JSON")
            pos += word.length
            return value
        }

        fun obj(depth: Int): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (pos < s.length && s[pos] == '}') { pos++; return out }
            while (true) {
                skipSpace()
                if (pos >= s.length || s[pos] != '"') throw error("expected a key")
                val key = string()
                if (strict && key in out) throw error("an object repeats the key '$key'")
                skipSpace()
                if (pos >= s.length || s[pos] != ':') throw error("expected ':'")
                pos++
                skipSpace()
                out[key] = value(depth + 1)
                skipSpace()
                if (pos >= s.length) throw error("unexpected end")
                val c = s[pos++]
                if (c == '}') return out
                if (c != ',') { pos--; throw error("expected ',' or '}'") }
            }
        }

        fun array(depth: Int): List<Any?> {
            val out = ArrayList<Any?>()
            pos++
            skipSpace()
            if (pos < s.length && s[pos] == ']') { pos++; return out }
            while (true) {
                skipSpace()
                out.add(value(depth + 1))
                skipSpace()
                if (pos >= s.length) throw error("unexpected end")
                val c = s[pos++]
                if (c == ']') return out
                if (c != ',') { pos--; throw error("expected ',' or ']'") }
            }
        }

        fun string(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (pos >= s.length) throw error("unterminated string")
                val c = s[pos++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (pos >= s.length) throw error("unterminated string")
                        when (val e = s[pos++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (pos + 4 > s.length) throw error("bad \\u escape")
                                out.append(s.substring(pos, pos + 4).toIntOrNull(16)?.toChar() ?: throw error("bad \\u escape"))
                                pos += 4
                            }
                            else -> throw error("bad escape '\\$e'")
                        }
                    }
                    c < ' ' -> throw error("control character in a string")
                    else -> out.append(c)
                }
            }
        }

        fun number(): Any {
            val start = pos
            if (pos < s.length && s[pos] == '-') pos++
            if (s.startsWith("Infinity", pos)) {
                if (strict) throw error("-Infinity is not JSON")
                pos += 8; return Double.NEGATIVE_INFINITY
            }
            var integral = true
            while (pos < s.length && (s[pos].isDigit() || s[pos] in ".eE+-")) {
                if (s[pos] in ".eE") integral = false
                pos++
            }
            val text = s.substring(start, pos)
            if (text.isEmpty() || text == "-") throw error("unexpected character")
            if (strict && !NUMBER.matches(text)) throw error("bad number '$text'")
            if (integral) text.toLongOrNull()?.let { return it }
            val d = text.toDoubleOrNull() ?: throw error("bad number '$text'")
            if (strict && d.isInfinite()) throw error("number $text is out of range")
            return d
        }
    }

    /** Python's json.dumps(value, sort_keys=True): ", " and ": " separators, ASCII only, repr() floats. */
    fun write(value: Any?, sortKeys: Boolean = true): String = StringBuilder().also { write(it, value, sortKeys) }.toString()

    private fun write(out: StringBuilder, value: Any?, sortKeys: Boolean) {
        when (value) {
            null -> out.append("null")
            is Boolean -> out.append(if (value) "true" else "false")
            is String -> writeString(out, value)
            is Double -> out.append(pythonFloat(value))
            is Float -> out.append(pythonFloat(value.toDouble()))
            is Number -> out.append(value.toLong())
            is Map<*, *> -> {
                out.append('{')
                val keys = value.keys.map { it as String }.let { if (sortKeys) it.sorted() else it }
                for ((i, k) in keys.withIndex()) {
                    if (i > 0) out.append(", ")
                    writeString(out, k)
                    out.append(": ")
                    write(out, value[k], sortKeys)
                }
                out.append('}')
            }
            is List<*> -> {
                out.append('[')
                for ((i, v) in value.withIndex()) {
                    if (i > 0) out.append(", ")
                    write(out, v, sortKeys)
                }
                out.append(']')
            }
            is IntArray -> write(out, value.toList(), sortKeys)
            else -> throw IllegalArgumentException("cannot write ${value.javaClass.name} as JSON")
        }
    }

    private fun writeString(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c == '\b' -> out.append("\\b")
                c == '\u000c' -> out.append("\\f")
                c < ' ' || c > '~' -> out.append(String.format("\\u%04x", c.toInt()))
                else -> out.append(c)
            }
        }
        out.append('"')
    }

    /** Python's repr() of a float: the shortest digits that read back (as Java's), laid out as Python does. */
    fun pythonFloat(d: Double): String {
        if (d.isNaN()) return "NaN"
        if (d.isInfinite()) return if (d > 0) "Infinity" else "-Infinity"
        if (d == 0.0) return if (1.0 / d < 0) "-0.0" else "0.0"
        val decimal = java.math.BigDecimal(java.lang.Double.toString(Math.abs(d))).stripTrailingZeros()
        val digits = decimal.unscaledValue().toString()
        val exponent = digits.length - 1 - decimal.scale()     // of the first digit
        val sign = if (d < 0) "-" else ""
        return sign + when {
            exponent < -4 || exponent >= 16 -> {
                val mantissa = if (digits.length > 1) digits[0] + "." + digits.substring(1) else digits
                mantissa + "e" + (if (exponent < 0) "-" else "+") + String.format("%02d", Math.abs(exponent))
            }
            exponent < 0 -> "0." + "0".repeat(-exponent - 1) + digits
            digits.length <= exponent + 1 -> digits + "0".repeat(exponent + 1 - digits.length) + ".0"
            else -> digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1)
        }
    }
}

/** Typed access to parsed JSON, with errors that name the key. */
internal fun Map<*, *>.obj(key: String): Map<*, *> = this[key] as? Map<*, *> ?: throw TokenreelException("'$key' is missing or not an object")
internal fun Map<*, *>.list(key: String): List<*> = this[key] as? List<*> ?: throw TokenreelException("'$key' is missing or not a list")
internal fun Map<*, *>.str(key: String): String = this[key] as? String ?: throw TokenreelException("'$key' is missing or not a string")
internal fun Map<*, *>.long(key: String): Long = (this[key] as? Number)?.toLong() ?: throw TokenreelException("'$key' is missing or not a number")
internal fun Map<*, *>.int(key: String): Int = long(key).toInt()
internal fun Map<*, *>.ints(key: String): IntArray = list(key).map { (it as? Number)?.toInt() ?: throw TokenreelException("'$key' holds a non-number") }.toIntArray()
