// SHA-1 in JavaScript for the short inputs of UUID v5 (usually one 64-byte block). node:crypto
// costs several microseconds per call in object and native-call overhead, which for a few ids per
// row was most of a transform's time; this is checked against node:crypto in the tests.
const W = new Int32Array(80);
let block = new Uint8Array(128);

/** SHA-1 of `bytes[0, length)`, written into `out` (20 bytes). */
export function sha1(bytes: Uint8Array, length: number, out: Uint8Array): void {
  const padded = ((length + 8) >> 6) * 64 + 64;
  if (block.length < padded) block = new Uint8Array(padded * 2);
  block.set(bytes.subarray(0, length));
  block.fill(0, length, padded);
  block[length] = 0x80;
  const bits = length * 8;
  block[padded - 4] = (bits >>> 24) & 0xff;
  block[padded - 3] = (bits >>> 16) & 0xff;
  block[padded - 2] = (bits >>> 8) & 0xff;
  block[padded - 1] = bits & 0xff;
  block[padded - 5] = Math.floor(bits / 2 ** 32) & 0xff;
  let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476, h4 = 0xc3d2e1f0 | 0;
  for (let offset = 0; offset < padded; offset += 64) {
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      W[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
    }
    for (let i = 16; i < 80; i++) {
      const x = W[i - 3] ^ W[i - 8] ^ W[i - 14] ^ W[i - 16];
      W[i] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number, k: number;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
      else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + W[i]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
  }
  const hs = [h0, h1, h2, h3, h4];
  for (let i = 0; i < 5; i++) {
    out[i * 4] = hs[i] >>> 24;
    out[i * 4 + 1] = (hs[i] >>> 16) & 0xff;
    out[i * 4 + 2] = (hs[i] >>> 8) & 0xff;
    out[i * 4 + 3] = hs[i] & 0xff;
  }
}
