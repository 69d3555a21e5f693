// Model output to labelled probabilities (as runtime/classifier.py and Postprocess.kt).

/** Dequantize the raw output with the output tensor's own scale and zero point (float outputs pass through). */
export function dequantize(raw, output) {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    out[i] = output.scale && output.dtype !== 'float32' ? (raw[i] - output.zeroPoint) * output.scale : raw[i];
  }
  return out;
}

/** {label, index, probabilities}; checks the output is a probability vector (softmax inside the model). */
export function label(probabilities, contract, tolerance = 0.05) {
  if (probabilities.length !== contract.labels.length) {
    throw new Error(`model gives ${probabilities.length} outputs for ${contract.labels.length} labels`);
  }
  let sum = 0;
  let best = 0;
  for (let i = 0; i < probabilities.length; i++) {
    sum += probabilities[i];
    if (probabilities[i] > probabilities[best]) best = i;
  }
  if (Math.abs(sum - 1) > tolerance || Array.from(probabilities).some((p) => p < -1e-6)) {
    throw new Error(`output is not a probability vector (sum ${sum})`);
  }
  return { label: contract.labels[best], index: best, probabilities: Array.from(probabilities) };
}
