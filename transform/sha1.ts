// SHA-1 in JavaScript for the short inputs of UUID v5 (usually one 64-byte block). node:crypto
// costs several microseconds per call in object and native-call overhead, which for a few ids per
// row was most of a transform's time; this is checked against node:crypto in the tests.
// The message is padded in place (the caller leaves room: see paddedLength), and the compression
// function is generated fully unrolled, the 16-word schedule in local variables: about 110 ns for
// a one-block message, half of what loops over an Int32Array schedule took.

/** SHA-1 compression of the padded message `b[0, padded)` into `out` (20 bytes). */
const compress = generateCompress();

function generateCompress(): (b: Uint8Array, padded: number, out: Uint8Array) => void {
  const lines = ['let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476, h4 = 0xc3d2e1f0 | 0;', 'for (let o = 0; o < padded; o += 64) {'];
  for (let i = 0; i < 16; i++) lines.push(`let w${i} = (b[o + ${i * 4}] << 24) | (b[o + ${i * 4 + 1}] << 16) | (b[o + ${i * 4 + 2}] << 8) | b[o + ${i * 4 + 3}];`);
  lines.push('let a = h0, bb = h1, c = h2, d = h3, e = h4, t = 0, x = 0;');
  for (let r = 0; r < 80; r++) {
    const w = `w${r % 16}`;
    if (r >= 16) lines.push(`x = w${(r - 3) % 16} ^ w${(r - 8) % 16} ^ w${(r - 14) % 16} ^ ${w}; ${w} = (x << 1) | (x >>> 31);`);
    const f = r < 20 ? '((bb & c) | (~bb & d))' : r < 40 ? '(bb ^ c ^ d)' : r < 60 ? '((bb & c) | (bb & d) | (c & d))' : '(bb ^ c ^ d)';
    const k = r < 20 ? 0x5a827999 : r < 40 ? 0x6ed9eba1 : r < 60 ? 0x8f1bbcdc | 0 : 0xca62c1d6 | 0;
    lines.push(`t = (((a << 5) | (a >>> 27)) + ${f} + e + (${k}) + ${w}) | 0; e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;`);
  }
  lines.push('h0 = (h0 + a) | 0; h1 = (h1 + bb) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;', '}');
  ['h0', 'h1', 'h2', 'h3', 'h4'].forEach((h, i) => {
    lines.push(`out[${i * 4}] = ${h} >>> 24; out[${i * 4 + 1}] = (${h} >>> 16) & 0xff; out[${i * 4 + 2}] = (${h} >>> 8) & 0xff; out[${i * 4 + 3}] = ${h} & 0xff;`);
  });
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('b', 'padded', 'out', lines.join('\n')) as (b: Uint8Array, padded: number, out: Uint8Array) => void;
}

/** Bytes a message of `length` bytes takes once padded: the buffer given to sha1 must hold that many. */
export function paddedLength(length: number): number {
  return ((length + 8) >> 6) * 64 + 64;
}

/**
 * SHA-1 of `bytes[0, length)`, written into `out` (20 bytes). Pads the message in place, so
 * `bytes` must be at least paddedLength(length) long; bytes past `length` are overwritten.
 */
export function sha1(bytes: Uint8Array, length: number, out: Uint8Array): void {
  const padded = paddedLength(length);
  if (bytes.length < padded) throw new RangeError(`sha1: buffer of ${bytes.length} bytes cannot hold the padded message (${padded})`);
  const block = bytes;
  block[length] = 0x80;
  for (let i = length + 1; i < padded - 8; i++) block[i] = 0;
  const bits = length * 8;
  const high = Math.floor(bits / 2 ** 32);
  block[padded - 8] = high >>> 24;
  block[padded - 7] = (high >>> 16) & 0xff;
  block[padded - 6] = (high >>> 8) & 0xff;
  block[padded - 5] = high & 0xff;
  block[padded - 4] = (bits >>> 24) & 0xff;
  block[padded - 3] = (bits >>> 16) & 0xff;
  block[padded - 2] = (bits >>> 8) & 0xff;
  block[padded - 1] = bits & 0xff;
  compress(block, padded, out);
}
