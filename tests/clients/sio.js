// A scripted Socket.IO client (the npm package socket.io-client, not
// otpgate's code) for otpgate's end-to-end tests.
//
// node sio.js URL PATH TRANSPORT LOGIN_JSON|- MAX_MS
//   URL        e.g. http://127.0.0.1:8080
//   PATH       e.g. /api/ws/ or /socket.io/
//   TRANSPORT  websocket | polling | any (polling, then upgrade)
//   LOGIN_JSON the `login` payload to emit on connect, or - for none
//   MAX_MS     give up (exit 0) after this long
//
// Prints one JSON line per thing that happens, with the milliseconds since
// start: {"t":12,"event":"connect"}, {"t":30,"event":"authe_ok","data":{...}},
// {"t":31,"event":"disconnect","reason":"io server disconnect"}, ...
// (events with more than one argument also carry "args": [all of them]).
// Exits when the server disconnects it (no reconnection) or at MAX_MS.
// With TRANSPORT websocket the options are phone-island's (`path`,
// `transports: ['websocket']`, `upgrade: false`).
// An event the server emits with an ack request is answered with
// {"answered": NAME} (and the reports carry "ack": true); binary
// arguments print as {"$bin": HEX}.
// Reads stdin, one command a line:
//   emit NAME JSON      emits that event
//   ack NAME JSON       emits it with a callback (5 s): reports
//                       {"event":"ack","name":NAME,"error":...,"data":[answer args]}
//   bin NAME HEX        emits NAME with {"file": <binary HEX>} and a callback, reported as above
//   heartbeat MS        as phone-island: every MS emits `ping` with a 5 s
//                       callback; reports {"event":"heartbeat","ok":bool,"ms":round trip}
"use strict";
const { io } = require("socket.io-client");

const [url, path, transport, loginJson, maxMs] = process.argv.slice(2);
const start = Date.now();
const say = (o) => process.stdout.write(JSON.stringify({ t: Date.now() - start, ...o }) + "\n");
const transports = transport === "any" ? ["polling", "websocket"] : [transport];
const socket = io(url, {
  path,
  transports,
  upgrade: transport === "any",
  reconnection: false,
  timeout: 5000,
});
const printable = (v) => {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { $bin: Buffer.from(v).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(printable);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, printable(x)]));
  }
  return v;
};
const acked = (name) => (err, ...answer) =>
  say({ event: "ack", name, error: err ? String(err.message || err) : null, data: printable(answer) });

socket.on("connect", () => {
  say({ event: "connect", transport: socket.io.engine.transport.name });
  if (loginJson !== "-") socket.emit("login", JSON.parse(loginJson));
});
socket.on("connect_error", (e) => {
  say({ event: "connect_error", message: String(e && e.message) });
  process.exit(0);
});
socket.onAny((event, ...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  say({
    event,
    data: printable(args[0]),
    ...(args.length > 1 ? { args: printable(args) } : {}),
    ...(ack ? { ack: true } : {}),
  });
  if (ack) ack({ answered: event });
});
socket.on("disconnect", (reason) => {
  say({ event: "disconnect", reason });
  process.exit(0);
});
process.stdin.setEncoding("utf8");
let buf = "";
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const m = /^(emit|ack|bin|heartbeat) (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const [, cmd, name, rest] = m;
    if (cmd === "emit") socket.emit(name, JSON.parse(rest));
    else if (cmd === "ack") socket.timeout(5000).emit(name, JSON.parse(rest), acked(name));
    else if (cmd === "bin") socket.timeout(5000).emit(name, { file: Buffer.from(rest, "hex") }, acked(name));
    else if (cmd === "heartbeat") {
      setInterval(() => {
        const sent = Date.now();
        socket.timeout(5000).emit("ping", {}, (err) => say({ event: "heartbeat", ok: !err, ms: Date.now() - sent }));
      }, Number(name));
    }
  }
});
setTimeout(() => {
  say({ event: "timeout" });
  process.exit(0);
}, Number(maxMs));
