package dev.feredge.core

/**
 * The model's I/O contract as the model file states it (written by fer-edge's
 * converter from `runtime/contract.py`): labels, input size and type, and the
 * face-crop rule. Nothing here is hard-coded; everything comes from the model.
 */
data class Contract(
    val labels: List<String>,
    val inputSize: Int,
    val channels: Int,
    val inputType: String,
    val cropScale: Double,
    val cropShiftY: Double,
    /** Temperature fitted on PublicTest by the release: apply with [Postprocess.calibrate]. */
    val temperature: Double = 1.0,
    /** Test-time augmentation the release recommends ("none" or "flip"). */
    val tta: String = "none",
    /** How a face is read against the person's relaxed face ([Baseline]). */
    val baseline: Baseline.Rule = Baseline.Rule()
) {
    companion object {
        /** Read the contract from a `.tflite`'s appended `fer_contract.json` and `labels.txt`. */
        fun fromModel(model: ByteArray): Contract {
            val files = ModelFile.associatedFiles(model)
            val json = files["fer_contract.json"] ?: throw IllegalArgumentException("model has no fer_contract.json")
            @Suppress("UNCHECKED_CAST")
            val doc = Json.parse(String(json, Charsets.UTF_8)) as Map<String, Any?>
            @Suppress("UNCHECKED_CAST")
            val input = doc["input"] as Map<String, Any?>
            @Suppress("UNCHECKED_CAST")
            val crop = doc["crop"] as Map<String, Any?>
            val labels = files["labels.txt"]?.let { String(it, Charsets.UTF_8).lines().map { l -> l.trim() }.filter { l -> l.isNotEmpty() } }
                ?: (doc["labels"] as List<*>).map { it.toString() }
            val t = (doc["temperature"] as? Double)?.takeIf { it in 0.05..20.0 } ?: 1.0
            val tta = (doc["tta"] as? String)?.takeIf { it == "flip" } ?: "none"
            @Suppress("UNCHECKED_CAST")
            val rule = Baseline.Rule.fromDoc(doc["baseline"] as? Map<String, Any?>)
            return Contract(labels, (input["size"] as Double).toInt(), (input["channels"] as Double).toInt(),
                input["dtype"] as String, crop["scale"] as Double, crop["shift_y"] as Double, t, tta, rule)
        }
    }
}
