// RFC 6238 (TOTP), HMAC-SHA1, 6 digits, 30 s, with node's crypto (not
// otpgate's code), for the browser scripts (ui.spec.js, enrol.spec.js).
// Checked against RFC 6238's appendix B vectors when loaded.
"use strict";

const crypto = require("node:crypto");

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, "").toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error("not base32: " + ch);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function hotp(secret, counter, digits) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac("sha1", secret).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, "0");
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);
const totpAt = (secret, step) => hotp(secret, step, 6);

// RFC 6238 appendix B (SHA-1): the implementation is right before use.
{
  const s = Buffer.from("12345678901234567890");
  for (const [t, want] of [[59, "94287082"], [1111111109, "07081804"], [2000000000, "69279037"]]) {
    const got = hotp(s, Math.floor(t / 30), 8);
    if (got !== want) throw new Error(`RFC 6238 vector t=${t}: ${got} != ${want}`);
  }
}

module.exports = { base32Decode, stepNow, totpAt };
