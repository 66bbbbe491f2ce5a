// SHA-1 in JavaScript for the short inputs of UUID v5 (usually one 64-byte block). node:crypto
// costs several microseconds per call in object and native-call overhead, which for a few ids per
// row was most of a transform's time; this is checked against node:crypto in the tests.
// The message is padded in place (the caller leaves room: see paddedLength) and the 80 rounds are
// four branch-free loops, so a one-block digest is a few hundred nanoseconds.
const W = new Int32Array(80);

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
  let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476, h4 = 0xc3d2e1f0 | 0;
  for (let offset = 0; offset < padded; offset += 64) {
    for (let i = 0, j = offset; i < 16; i++, j += 4) {
      W[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = W[i - 3] ^ W[i - 8] ^ W[i - 14] ^ W[i - 16];
      W[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    let i = 0;
    for (; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[i]) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[i]) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 60; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + W[i]) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + W[i]) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
  }
  out[0] = h0 >>> 24; out[1] = (h0 >>> 16) & 0xff; out[2] = (h0 >>> 8) & 0xff; out[3] = h0 & 0xff;
  out[4] = h1 >>> 24; out[5] = (h1 >>> 16) & 0xff; out[6] = (h1 >>> 8) & 0xff; out[7] = h1 & 0xff;
  out[8] = h2 >>> 24; out[9] = (h2 >>> 16) & 0xff; out[10] = (h2 >>> 8) & 0xff; out[11] = h2 & 0xff;
  out[12] = h3 >>> 24; out[13] = (h3 >>> 16) & 0xff; out[14] = (h3 >>> 8) & 0xff; out[15] = h3 & 0xff;
  out[16] = h4 >>> 24; out[17] = (h4 >>> 16) & 0xff; out[18] = (h4 >>> 8) & 0xff; out[19] = h4 & 0xff;
}
