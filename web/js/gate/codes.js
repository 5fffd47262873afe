// Reading a scanned ticket code in the browser, for a gate without network (docs/tickets.md, "The code"):
// split `<token>~<digits>`, decode the JWT's header and claims, check its Ed25519 signature against the
// manifest's JWKS with WebCrypto (where the browser has Ed25519), and check a rotating code's digits with
// the booking's TOTP secret (the vendored otpauth, one step of slack either side, as the service does).
// The reasons are the service's own (tickets.codes.verify), so a steward reads the same words online and off.

import { Secret, TOTP } from "../../vendor/otpauth/otpauth.esm.js";

const MAX_CODE_LENGTH = 4096;
const DIGITS = /^\d{6}$/;

function base64url(text) {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function json(part) {
  return JSON.parse(new TextDecoder().decode(base64url(part)));
}

/**
 * The parts of a scanned code: {token, digits, header, claims, signed, signature}, or {reason} when it is
 * not a ticket code at all (`malformed`).
 */
export function parseCode(raw) {
  const code = String(raw || "").trim();
  if (!code || code.length > MAX_CODE_LENGTH) return { reason: "malformed" };
  const [token, digits, ...rest] = code.split("~");
  if (rest.length || (digits !== undefined && !DIGITS.test(digits))) return { reason: "malformed" };
  const parts = token.split(".");
  if (parts.length !== 3) return { reason: "malformed" };
  try {
    const header = json(parts[0]);
    const claims = json(parts[1]);
    if (header.alg !== "EdDSA" || typeof claims.b !== "string" || typeof claims.s !== "string") {
      return { reason: "malformed" };
    }
    return {
      token,
      digits: digits ?? null,
      header,
      claims,
      signed: new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
      signature: base64url(parts[2]),
    };
  } catch {
    return { reason: "malformed" };
  }
}

const keyCache = new Map();

async function publicKey(jwk) {
  const id = `${jwk.kid}:${jwk.x}`;
  if (!keyCache.has(id)) {
    const imported = crypto.subtle.importKey(
      "jwk",
      { kty: "OKP", crv: "Ed25519", x: jwk.x },
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    keyCache.set(id, imported);
    imported.catch(() => keyCache.delete(id));
  }
  return keyCache.get(id);
}

/**
 * The signature of a parsed code against a JWKS: "ok", "bad_signature", "unknown_key", or "unchecked"
 * where this browser's WebCrypto has no Ed25519 (the gate then trusts the manifest's list of bookings).
 */
export async function checkSignature(parsed, jwks) {
  const jwk = (jwks?.keys || []).find((k) => k.kid === parsed.header.kid);
  if (!jwk) return "unknown_key";
  if (!globalThis.crypto?.subtle) return "unchecked";
  let key;
  try {
    key = await publicKey(jwk);
  } catch {
    return "unchecked"; // NotSupportedError: no Ed25519 here
  }
  const good = await crypto.subtle.verify({ name: "Ed25519" }, key, parsed.signature, parsed.signed);
  return good ? "ok" : "bad_signature";
}

/** Whether `digits` are the booking's TOTP at `ms`, or one step before or after. */
export function digitsValid(secret, digits, { period, digits: length }, ms) {
  const totp = new TOTP({ secret: Secret.fromBase32(secret), algorithm: "SHA1", digits: length, period });
  return totp.validate({ token: digits, timestamp: ms, window: 1 }) !== null;
}
