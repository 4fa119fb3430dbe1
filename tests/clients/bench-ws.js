// Load client for bench/ws.sh (npm socket.io-client, not otpgate's code).
//
// node bench-ws.js URL TOKEN N PROBE_USER PROBE_PASSWORD SAMPLES
//   Opens N websocket Socket.IO clients that all log in with TOKEN (user
//   "bench"), holds them, then measures SAMPLES times how long an extra
//   socket of PROBE_USER takes from `POST /api/logout` of its token to
//   its `session_revoked` + disconnect. Prints JSON lines: progress,
//   {"held":N,...} when all are logged in (then waits for a line on stdin,
//   so the caller can read the server's RSS), and the latency summary.
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const [url, token, nText, probeUser, probePw, samplesText] = process.argv.slice(2);
const N = Number(nText);
const SAMPLES = Number(samplesText);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sockets = [];

function open(user, tok) {
  return new Promise((resolve, reject) => {
    const s = io(url, { path: "/api/ws/", transports: ["websocket"], reconnection: false, timeout: 20000, forceNew: true });
    const timer = setTimeout(() => reject(new Error("login timeout")), 30000);
    s.on("connect", () => s.emit("login", { accessKeyId: user, token: tok, uaType: "desktop" }));
    s.on("authe_ok", () => { clearTimeout(timer); resolve(s); });
    s.on("401", () => { clearTimeout(timer); reject(new Error("401")); });
    s.on("connect_error", (e) => { clearTimeout(timer); reject(e); });
  });
}

async function login(user, pw) {
  const r = await fetch(url + "/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: user, password: pw }) });
  return (await r.json()).token;
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

(async () => {
  const t0 = Date.now();
  const BATCH = 250;
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(open("bench", token));
    sockets.push(...(await Promise.all(batch)));
    if ((i / BATCH) % 8 === 0) say({ progress: sockets.length });
  }
  say({ held: sockets.length, seconds_to_open: (Date.now() - t0) / 1000 });
  await new Promise((r) => readline.createInterface({ input: process.stdin }).once("line", r));
  const lat = [];
  for (let k = 0; k < SAMPLES; k++) {
    const tok = await login(probeUser, probePw);
    const s = await open(probeUser, tok);
    const done = new Promise((r) => s.on("disconnect", () => r(Date.now())));
    let revokedAt = 0;
    s.on("session_revoked", () => { revokedAt = Date.now(); });
    const start = Date.now();
    await fetch(url + "/api/logout", { method: "POST", headers: { authorization: "Bearer " + tok } });
    const end = await done;
    lat.push((revokedAt || end) - start);
  }
  lat.sort((a, b) => a - b);
  const stillOpen = sockets.filter((s) => s.connected).length;
  say({ samples: lat.length, p50_ms: pct(lat, 50), p99_ms: pct(lat, 99), max_ms: lat[lat.length - 1], held_still_connected: stillOpen });
  process.exit(0);
})().catch((e) => { say({ error: String(e) }); process.exit(1); });
