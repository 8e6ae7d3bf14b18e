// Real signed voucher tokens for the browser tests, built exactly as docs/protocol.md
// "Vouchers" says (and as crates/protocol/src/voucher.rs does): postcard(VoucherClaims) ||
// Ed25519(seed) signature over "lineup-voucher-v1" || claims, unpadded base64url; the
// readable code from SHA-256("lineup-code-v1" || signature). unit.test.mjs checks this module
// against crates/protocol/tests/vectors/v1.json, so the fixtures are tokens the Rust side
// would accept. Also: a deterministic QR SVG of a token (qrcode-generator, level M, the same
// shape as lineup-core's qr::svg) and offline verification of a decoded token.

import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import qrcode from 'qrcode-generator';

const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const SIGNING_TAG = Buffer.from('lineup-voucher-v1');

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI DER prefix of an Ed25519 public key; the 32-byte key follows. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const fromB64u = (s) => Buffer.from(s, 'base64url');

export function keyFromSeed(seed) {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey: b64u(spki.subarray(SPKI_PREFIX.length)) };
}

function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** postcard(VoucherClaims), fields in wire order. */
export function encodeClaims({ kid, campaign, serial, amount, currency, expires, holder }) {
  const name = Buffer.from(campaign, 'utf8');
  return Buffer.from([
    1, // version
    ...varint(kid),
    ...varint(name.length),
    ...name,
    ...varint(serial),
    ...varint(amount),
    ...Buffer.from(currency, 'ascii'), // [u8; 3]: no length prefix
    ...varint(expires),
    ...holder, // [u8; 8]
  ]);
}

export function holderBinding(identityKey) {
  return createHash('sha256').update('lineup-holder-v1').update(Buffer.from(identityKey)).digest().subarray(0, 8);
}

export function voucherCode(signature) {
  const digest = createHash('sha256').update('lineup-code-v1').update(signature).digest();
  let acc = digest.readBigUInt64BE(0);
  const idx = [];
  for (let i = 0; i < 11; i++) {
    idx.push(Number(acc % 31n));
    acc /= 31n;
  }
  const sum = idx.reduce((s, d, i) => s + (i + 2) * d, 0);
  const check = (31 - (sum % 31)) % 31;
  const s = [...idx, check].map((i) => ALPHABET[i]).join('');
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}`;
}

/** Signs claims with the key from `seed`; returns { token, code }. */
export function signVoucher(claims, seed) {
  const { privateKey } = keyFromSeed(seed);
  const bytes = encodeClaims(claims);
  const signature = sign(null, Buffer.concat([SIGNING_TAG, bytes]), privateKey);
  return { token: b64u(Buffer.concat([bytes, signature])), code: voucherCode(signature) };
}

/** Checks a token's signature with a base64url public key; returns its code, or null. */
export function verifyToken(token, publicKeyB64u) {
  const raw = fromB64u(token);
  if (raw.length <= 64) return null;
  const bytes = raw.subarray(0, raw.length - 64);
  const signature = raw.subarray(raw.length - 64);
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, fromB64u(publicKeyB64u)]), format: 'der', type: 'spki' });
  return verify(null, Buffer.concat([SIGNING_TAG, bytes]), key, signature) ? voucherCode(signature) : null;
}

/**
 * The token's QR code as SVG markup (error correction M, a 4-module quiet zone, black on
 * white, one path), shaped like lineup-core's `qr::svg` so the UI's sanitiser sees the same.
 */
export function qrSvg(text) {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const size = n + 2 * quiet;
  let d = '';
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (qr.isDark(y, x)) d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
    }
  }
  return (
    `<?xml version="1.0" standalone="yes"?>` +
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${size * 6}" height="${size * 6}" ` +
    `viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges">` +
    `<rect x="0" y="0" width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
  );
}
