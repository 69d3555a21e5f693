package dev.feredge.core

import java.io.ByteArrayOutputStream
import java.util.zip.Inflater

/**
 * Reads the files that a fer-edge `.tflite` carries in the zip appended after its
 * flatbuffer (TFLite Model Metadata's associated files): `labels.txt` and
 * `fer_contract.json`. Plain JVM code, no Android dependency.
 */
object ModelFile {
    private const val EOCD = 0x06054b50
    private const val CEN = 0x02014b50
    private const val LOC = 0x04034b50
    private const val MAX_FILE = 1 shl 20

    private fun u16(b: ByteArray, p: Int) = (b[p].toInt() and 0xff) or ((b[p + 1].toInt() and 0xff) shl 8)
    private fun u32(b: ByteArray, p: Int) = u16(b, p).toLong() or (u16(b, p + 2).toLong() shl 16)

    /** name -> bytes of every file in the appended zip; empty when there is none. */
    fun associatedFiles(model: ByteArray): Map<String, ByteArray> {
        var eocd = -1
        var p = model.size - 22
        val stop = maxOf(0, model.size - 22 - 65535)
        while (p >= stop) {
            if (u32(model, p).toInt() == EOCD) { eocd = p; break }
            p--
        }
        if (eocd < 0) return emptyMap()
        val count = u16(model, eocd + 10)
        val cdSize = u32(model, eocd + 12).toInt()
        val cdOffset = u32(model, eocd + 16).toInt()
        // Bytes before the zip (the flatbuffer) shift every offset the zip records.
        val shift = eocd - cdSize - cdOffset
        require(shift >= 0) { "malformed metadata zip" }
        val out = LinkedHashMap<String, ByteArray>()
        var c = shift + cdOffset
        repeat(count) {
            require(u32(model, c).toInt() == CEN) { "malformed metadata zip directory" }
            val method = u16(model, c + 10)
            val compSize = u32(model, c + 20).toInt()
            val size = u32(model, c + 24).toInt()
            val nameLen = u16(model, c + 28)
            val extraLen = u16(model, c + 30)
            val commentLen = u16(model, c + 32)
            val local = shift + u32(model, c + 42).toInt()
            val name = String(model, c + 46, nameLen, Charsets.UTF_8)
            require(size in 0..MAX_FILE && compSize in 0..MAX_FILE) { "metadata file $name too large" }
            require(u32(model, local).toInt() == LOC) { "malformed metadata zip entry $name" }
            val data = local + 30 + u16(model, local + 26) + u16(model, local + 28)
            require(data + compSize <= model.size) { "metadata zip entry $name out of bounds" }
            out[name] = when (method) {
                0 -> model.copyOfRange(data, data + compSize)
                8 -> inflate(model.copyOfRange(data, data + compSize), size)
                else -> throw IllegalArgumentException("unsupported zip method $method for $name")
            }
            c += 46 + nameLen + extraLen + commentLen
        }
        return out
    }

    private fun inflate(data: ByteArray, size: Int): ByteArray {
        val inf = Inflater(true)
        inf.setInput(data)
        val buf = ByteArray(size)
        val out = ByteArrayOutputStream(size)
        while (!inf.finished() && out.size() < size) {
            val n = inf.inflate(buf)
            if (n == 0 && (inf.needsInput() || inf.needsDictionary())) break
            out.write(buf, 0, n)
        }
        inf.end()
        return out.toByteArray()
    }
}
