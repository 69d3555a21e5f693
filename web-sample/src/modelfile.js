// What a fer-edge .tflite says about itself, read from the file's own bytes:
// the tensors' shapes, types and quantization (from the flatbuffer) and the
// contract files in the zip appended after it (labels.txt, fer_contract.json),
// as the Android core (ModelFile.kt, Contract.kt) and the Python runtime read
// them. No label list or constant of the model lives in JavaScript.
// Plain ES module: runs in the browser and under Node.

import { ruleFrom } from './baseline.js';

const MAX_FILE = 1 << 20;
const TYPES = { 0: 'float32', 1: 'float16', 2: 'int32', 3: 'uint8', 4: 'int64', 9: 'int8', 7: 'int16' };

function view(bytes) {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function check(bytes, pos, n) {
  if (pos < 0 || n < 0 || pos + n > bytes.length) throw new Error('model file: offset out of bounds');
}

// A bounds-checked flatbuffer table (the subset a .tflite needs).
class Table {
  constructor(bytes, pos) {
    this.b = bytes; this.v = view(bytes); this.pos = pos;
    check(bytes, pos, 4);
    this.vt = pos - this.v.getInt32(pos, true);
    check(bytes, this.vt, 4);
    this.vtLen = this.v.getUint16(this.vt, true);
    if (this.vtLen < 4 || this.vtLen % 2) throw new Error('model file: bad flatbuffer vtable');
    check(bytes, this.vt, this.vtLen);
  }
  field(i) {
    const off = 4 + 2 * i;
    return off >= this.vtLen ? 0 : this.v.getUint16(this.vt + off, true);
  }
  scalar(i, kind, dflt = 0) {
    const o = this.field(i);
    if (!o) return dflt;
    const p = this.pos + o;
    check(this.b, p, kind === 'i8' ? 1 : 4);
    return kind === 'i8' ? this.v.getInt8(p) : kind === 'u32' ? this.v.getUint32(p, true) : this.v.getInt32(p, true);
  }
  indirect(i) {
    const o = this.field(i);
    if (!o) return null;
    const p = this.pos + o;
    check(this.b, p, 4);
    return p + this.v.getUint32(p, true);
  }
  vector(i, elem) {
    const p = this.indirect(i);
    if (p === null) return [0, 0];
    check(this.b, p, 4);
    const n = this.v.getUint32(p, true);
    check(this.b, p + 4, n * elem);
    return [p + 4, n];
  }
  tables(i) {
    const [start, n] = this.vector(i, 4);
    const out = [];
    for (let k = 0; k < n; k++) {
      const p = start + 4 * k;
      out.push(new Table(this.b, p + this.v.getUint32(p, true)));
    }
    return out;
  }
  table(i) {
    const p = this.indirect(i);
    return p === null ? null : new Table(this.b, p);
  }
  numbers(i, kind) {
    const size = kind === 'i64' ? 8 : 4;
    const [start, n] = this.vector(i, size);
    const out = [];
    for (let k = 0; k < n; k++) {
      const p = start + size * k;
      out.push(kind === 'f32' ? this.v.getFloat32(p, true)
        : kind === 'i64' ? Number(this.v.getBigInt64(p, true)) : this.v.getInt32(p, true));
    }
    return out;
  }
}

function tensorInfo(t) {
  const q = t.table(4);
  const scale = q ? q.numbers(2, 'f32') : [];
  const zero = q ? q.numbers(3, 'i64') : [];
  return { shape: t.numbers(0, 'i32'), dtype: TYPES[t.scalar(1, 'i8')] ?? 'other',
           scale: scale.length ? scale[0] : 0, zeroPoint: zero.length ? zero[0] : 0 };
}

/** Inputs and outputs of the first subgraph: {inputs: [...], outputs: [...]}, each {shape, dtype, scale, zeroPoint}. */
export function tensors(bytes) {
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'TFL3') {
    throw new Error('not a TensorFlow Lite model (no TFL3 identifier)');
  }
  const model = new Table(bytes, view(bytes).getUint32(0, true));
  const graph = model.tables(2)[0];
  if (!graph) throw new Error('model file has no subgraph');
  const all = graph.tables(0);
  const pick = (ids) => ids.map((i) => {
    if (!all[i]) throw new Error('model file: tensor index out of range');
    return tensorInfo(all[i]);
  });
  return { inputs: pick(graph.numbers(1, 'i32')), outputs: pick(graph.numbers(2, 'i32')) };
}

async function inflateRaw(data) {
  if (typeof DecompressionStream === 'undefined') throw new Error('this platform cannot inflate zip entries');
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** name -> bytes of every file in the zip appended to the model (empty Map when there is none). */
export async function associatedFiles(bytes) {
  const v = view(bytes);
  const u16 = (p) => { check(bytes, p, 2); return v.getUint16(p, true); };
  const u32 = (p) => { check(bytes, p, 4); return v.getUint32(p, true); };
  let eocd = -1;
  for (let p = bytes.length - 22, stop = Math.max(0, bytes.length - 22 - 65535); p >= stop; p--) {
    if (v.getUint32(p, true) === 0x06054b50) { eocd = p; break; }
  }
  const out = new Map();
  if (eocd < 0) return out;
  const count = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  const cdOffset = u32(eocd + 16);
  const shift = eocd - cdSize - cdOffset;        // the flatbuffer before the zip shifts its offsets
  if (shift < 0) throw new Error('malformed metadata zip');
  let c = shift + cdOffset;
  for (let k = 0; k < count; k++) {
    if (u32(c) !== 0x02014b50) throw new Error('malformed metadata zip directory');
    const method = u16(c + 10);
    const compSize = u32(c + 20);
    const size = u32(c + 24);
    const nameLen = u16(c + 28);
    const local = shift + u32(c + 42);
    check(bytes, c + 46, nameLen);
    const name = new TextDecoder().decode(bytes.subarray(c + 46, c + 46 + nameLen));
    if (size > MAX_FILE || compSize > MAX_FILE) throw new Error(`metadata file ${name} too large`);
    if (u32(local) !== 0x04034b50) throw new Error(`malformed metadata zip entry ${name}`);
    const data = local + 30 + u16(local + 26) + u16(local + 28);
    check(bytes, data, compSize);
    const raw = bytes.slice(data, data + compSize);
    if (method === 0) out.set(name, raw);
    else if (method === 8) out.set(name, await inflateRaw(raw));
    else throw new Error(`unsupported zip method ${method} for ${name}`);
    c += 46 + nameLen + u16(c + 30) + u16(c + 32);
  }
  return out;
}

/**
 * The model's contract: labels, input {size, channels, dtype}, crop rule
 * {scale, shiftY, square}, and the output tensor's quantization, all from the
 * model file. Throws with one line when the file is not a fer-edge model.
 */
export async function readContract(bytes) {
  const io = tensors(bytes);
  const files = await associatedFiles(bytes);
  const json = files.get('fer_contract.json');
  if (!json) throw new Error('model has no fer_contract.json (not a fer-edge model)');
  const doc = JSON.parse(new TextDecoder().decode(json));
  const labelsTxt = files.get('labels.txt');
  const labels = labelsTxt
    ? new TextDecoder().decode(labelsTxt).split('\n').map((l) => l.trim()).filter((l) => l)
    : doc.labels;
  const out = io.outputs[0];
  if (io.inputs.length !== 1 || io.outputs.length !== 1) throw new Error('model must have one input and one output');
  if (out.shape[out.shape.length - 1] !== labels.length) {
    throw new Error(`model gives ${out.shape[out.shape.length - 1]} outputs for ${labels.length} labels`);
  }
  return {
    labels,
    input: { size: doc.input.size, channels: doc.input.channels, dtype: doc.input.dtype, shape: io.inputs[0].shape },
    crop: { scale: doc.crop.scale, shiftY: doc.crop.shift_y, square: doc.crop.square !== false },
    output: { dtype: out.dtype, scale: out.scale, zeroPoint: out.zeroPoint, shape: out.shape },
    // fitted on PublicTest by the release; postprocess.calibrate applies it
    temperature: typeof doc.temperature === 'number' && doc.temperature >= 0.05 && doc.temperature <= 20
      ? doc.temperature : 1.0,
    tta: doc.tta === 'flip' ? 'flip' : 'none',
    // how a face is read against the person's relaxed face (baseline.js)
    baseline: ruleFrom(doc.baseline),
    name: doc.name, version: doc.version,
  };
}
