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
// Reads stdin: a line "emit NAME JSON" emits that event.
"use strict";
const { io } = require("socket.io-client");

const [url, path, transport, loginJson, maxMs] = process.argv.slice(2);
const start = Date.now();
const say = (o) => process.stdout.write(JSON.stringify({ t: Date.now() - start, ...o }) + "\n");
const transports = transport === "any" ? ["polling", "websocket"] : [transport];
const socket = io(url, { path, transports, reconnection: false, timeout: 5000 });

socket.on("connect", () => {
  say({ event: "connect", transport: socket.io.engine.transport.name });
  if (loginJson !== "-") socket.emit("login", JSON.parse(loginJson));
});
socket.on("connect_error", (e) => {
  say({ event: "connect_error", message: String(e && e.message) });
  process.exit(0);
});
socket.onAny((event, ...args) => say({ event, data: args[0], ...(args.length > 1 ? { args } : {}) }));
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
    const m = /^emit (\S+) (.*)$/.exec(line);
    if (m) socket.emit(m[1], JSON.parse(m[2]));
  }
});
setTimeout(() => {
  say({ event: "timeout" });
  process.exit(0);
}, Number(maxMs));
