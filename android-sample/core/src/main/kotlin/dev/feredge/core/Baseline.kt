package dev.feredge.core

/**
 * A person's own baseline: a face read against the same person's relaxed face from the same sitting,
 * as fer-edge's Python runtime reads it (`runtime/baseline.py`; constants in `runtime/contract.py`'s
 * `BaselineRule`, checked against the goldens). A face's rise is `log max(p, floor) - b` per label,
 * `b` the mean of the same over the baseline's faces; it reads as the label whose rise above neutral's
 * is largest when that is at least `margin` nats, else neutral.
 */
object Baseline {
    /** The rule's constants (the model's metadata may carry them; these are the runtime contract's). */
    data class Rule(
        val margin: Double = 1.5,
        val neutral: String = "neutral",
        val minFrames: Int = 5,
        val minPhotos: Int = 1,
        val window: Int = 300
    ) {
        companion object {
            /** The rule of a `fer_contract.json` `baseline` object, the default where it is absent or out of range. */
            fun fromDoc(doc: Map<String, Any?>?): Rule {
                val d = Rule()
                if (doc == null) return d
                val r = Rule((doc["margin"] as? Double) ?: d.margin, (doc["neutral"] as? String) ?: d.neutral,
                    (doc["min_frames"] as? Double)?.toInt() ?: d.minFrames,
                    (doc["min_photos"] as? Double)?.toInt() ?: d.minPhotos, (doc["window"] as? Double)?.toInt() ?: d.window)
                val ok = r.margin > 0.0 && r.margin <= 20.0 && r.minFrames in 1..10000 && r.minPhotos in 1..10000 && r.window in 0..1000000
                return if (ok) r else d
            }
        }
    }

    /** A face read against a baseline: its label, and each label's rise above neutral's (null: read plainly). */
    data class Reading(val label: String, val index: Int, val faces: Int, val rise: DoubleArray?)

    fun logProbs(p: FloatArray): DoubleArray =
        DoubleArray(p.size) { Math.log(maxOf(p[it].toDouble(), Postprocess.CALIBRATION_FLOOR)) }

    private fun argmax(p: FloatArray): Int {
        var best = 0
        for (i in p.indices) if (p[i] > p[best]) best = i
        return best
    }

    /** The mean floored log-probabilities of the faces added (the last [window] of them; 0 = all). */
    class Mean(private val window: Int = 0) {
        private val rows = java.util.ArrayDeque<DoubleArray>()
        val size: Int get() = rows.size
        fun add(p: FloatArray) {
            rows.addLast(logProbs(p))
            if (window > 0 && rows.size > window) rows.pollFirst()
        }
        fun value(): DoubleArray {
            val out = DoubleArray(rows.first().size)
            for (r in rows) for (i in r.indices) out[i] += r[i]
            for (i in out.indices) out[i] = out[i] / rows.size
            return out
        }
    }

    /** The label index and rises of [p] against the baseline [base]. */
    fun read(p: FloatArray, base: DoubleArray, neutral: Int, margin: Double): Pair<Int, DoubleArray> {
        val lp = logProbs(p)
        val rise = DoubleArray(lp.size) { lp[it] - base[it] }
        val n = rise[neutral]
        for (i in rise.indices) rise[i] -= n
        var best = if (neutral == 0) 1 else 0
        for (i in rise.indices) if (i != neutral && rise[i] > rise[best]) best = i
        return Pair(if (rise[best] >= margin) best else neutral, rise)
    }

    /** Reads faces for one model: against a fixed reference, or each track's own (see [Track]). */
    class Reader(val labels: List<String>, val rule: Rule = Rule()) {
        val neutral: Int = labels.indexOf(rule.neutral).also {
            require(it >= 0) { "a baseline needs a '${rule.neutral}' label; this model's labels are ${labels.joinToString(", ")}" }
        }

        fun against(p: FloatArray, base: Mean): Reading {
            val (i, rise) = read(p, base.value(), neutral, rule.margin)
            return Reading(labels[i], i, base.size, rise)
        }

        fun plain(p: FloatArray, faces: Int = 0): Reading = argmax(p).let { Reading(labels[it], it, faces, null) }

        /** One sitting of photos of one person (the largest face of each): each against the others that read neutral plainly. */
        fun photos(probs: List<FloatArray>): List<Reading> {
            val neutralPlain = probs.map { argmax(it) == neutral }
            return probs.mapIndexed { i, p ->
                val base = Mean()
                probs.forEachIndexed { j, q -> if (j != i && neutralPlain[j]) base.add(q) }
                if (base.size >= rule.minPhotos) against(p, base) else plain(p, base.size)
            }
        }
    }

    /** The automatic baseline of one track: frames that read neutral join it; it goes with the track. */
    class Track(private val reader: Reader) {
        private val base = Mean(reader.rule.window)
        fun read(p: FloatArray): Reading {
            val r = if (base.size >= reader.rule.minFrames) reader.against(p, base) else reader.plain(p, base.size)
            if (r.index == reader.neutral) base.add(p)
            return r
        }
    }
}
