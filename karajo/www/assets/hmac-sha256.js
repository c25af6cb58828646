// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain JavaScript.
//
// Browsers offer Web Crypto (crypto.subtle) only in secure contexts: HTTPS
// or localhost.  karajo is often opened over plain HTTP on a LAN address,
// where crypto.subtle is undefined, yet pause, resume, run and cancel must
// still be signed with the secret.  This file is that fallback; common.js
// uses crypto.subtle whenever it exists.  tests/browser/test_hmac_js.py
// checks it against the RFC 4231 vectors and Python's hmac module.
(function (global) {
  "use strict";

  // The first 32 bits of the fractional parts of the cube roots of the
  // first 64 primes.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  // The first 32 bits of the fractional parts of the square roots of the
  // first 8 primes.
  const H0 = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
    0x1f83d9ab, 0x5be0cd19,
  ];
  const BLOCK_SIZE = 64;

  function rotr(x, n) {
    return (x >>> n) | (x << (32 - n));
  }

  // Message plus 0x80, zeros, and the bit length in the last 8 bytes, to a
  // multiple of 64 bytes.
  function pad(bytes) {
    const length = Math.ceil((bytes.length + 9) / BLOCK_SIZE) * BLOCK_SIZE;
    const padded = new Uint8Array(length);
    padded.set(bytes);
    padded[bytes.length] = 0x80;
    const view = new DataView(padded.buffer);
    const bits = bytes.length * 8;
    view.setUint32(length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(length - 4, bits >>> 0);
    return view;
  }

  function compress(state, view, offset, w) {
    for (let i = 0; i < 16; i++) {
      w[i] = view.getUint32(offset + i * 4);
    }
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, h] = state;
    for (let i = 0; i < 64; i++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const choice = (e & f) ^ (~e & g);
      const t1 = (h + s1 + choice + K[i] + w[i]) | 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + majority) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    // A Uint32Array keeps each sum modulo 2^32.
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }

  // The SHA-256 digest (32 bytes) of a Uint8Array.
  function sha256(bytes) {
    const view = pad(bytes);
    const state = new Uint32Array(H0);
    const w = new Uint32Array(64);
    for (let offset = 0; offset < view.byteLength; offset += BLOCK_SIZE) {
      compress(state, view, offset, w);
    }
    const digest = new Uint8Array(32);
    const out = new DataView(digest.buffer);
    state.forEach((word, i) => out.setUint32(i * 4, word));
    return digest;
  }

  // The HMAC-SHA256 (32 bytes) of a message with a key, both Uint8Array.
  function hmacSha256(key, message) {
    const block = new Uint8Array(BLOCK_SIZE);
    block.set(key.length > BLOCK_SIZE ? sha256(key) : key);
    const inner = new Uint8Array(BLOCK_SIZE + message.length);
    const outer = new Uint8Array(BLOCK_SIZE + 32);
    for (let i = 0; i < BLOCK_SIZE; i++) {
      inner[i] = block[i] ^ 0x36;
      outer[i] = block[i] ^ 0x5c;
    }
    inner.set(message, BLOCK_SIZE);
    outer.set(sha256(inner), BLOCK_SIZE);
    return sha256(outer);
  }

  function toHex(bytes) {
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // The hex HMAC-SHA256 of two strings, each taken as UTF-8, as karajo's
  // X-Karajo-Sign is computed on the server.
  function hmacSha256Hex(secret, message) {
    const encoder = new TextEncoder();
    return toHex(hmacSha256(encoder.encode(secret), encoder.encode(message)));
  }

  global.KarajoHmac = Object.freeze({ sha256, hmacSha256, hmacSha256Hex, toHex });
})(window);
