// A small upstream Socket.IO server (the npm package socket.io, not
// otpgate's code) for the end-to-end tests of otpgate's relay
// (`upstream.ws_url`, and the CTI server's Socket.IO in nethcti mode).
//
// node upstream-sio.js [--cti] [PING_INTERVAL_MS]
//   Listens on a free loopback port with the default path /socket.io/ and
//   prints one JSON line per thing that happens:
//   {"event":"listening","port":N}
//   {"event":"connection","user":<X-Otpgate-User>,"authorization":bool,"cookie":bool,"transport":"websocket"}
//   {"event":"login","data":{...}}           (then emits `authe_ok` and `welcome` {"user": accessKeyId}, "second argument")
//   {"event":"ping","data":...,"ack":bool}   (a `ping` is acknowledged with "pong", as the CTI server does)
//   {"event":NAME,"data":...,"ack":bool}     (any other event; echoed back as `echo` {event, data}, and
//                                             acknowledged with {"got": NAME} when it asks for an ack;
//                                             binary arguments print as {"$bin": HEX})
//   {"event":"answer","data":[...]}          (the client's answer to an `ask`)
//   {"event":"disconnect","reason":...}
//   With --cti it is the CTI server's Socket.IO (API.md §9): a `login`
//   whose `token` is not the one registered for its `accessKeyId` gets the
//   event `401` {"message":"unauthorized access"} and a disconnect.
//   PING_INTERVAL_MS sets Engine.IO's ping interval (default 25000).
// Reads stdin, one command a line (sent to every connected socket):
//   token USER T            registers T as USER's CTI session (--cti)
//   emit NAME JSON          emits NAME with JSON
//   emitbin NAME HEX        emits NAME with {"file": <binary HEX>, "n": 1}
//   ask NAME JSON           emits NAME with JSON and an ack callback (5 s)
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const args = process.argv.slice(2);
const cti = args.includes("--cti");
const pingInterval = Number(args.find((a) => /^\d+$/.test(a)) || 25000);
const tokens = new Map();
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
// Binary values print as {"$bin": hex}.
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
const server = http.createServer();
const io = new Server(server, { transports: ["websocket"], pingInterval, pingTimeout: 20000 });
io.on("connection", (socket) => {
  const h = socket.handshake.headers;
  say({
    event: "connection",
    user: h["x-otpgate-user"] || null,
    authorization: "authorization" in h,
    cookie: "cookie" in h,
    transport: socket.conn.transport.name,
  });
  socket.on("login", (data) => {
    say({ event: "login", data });
    if (cti && !(data && tokens.get(data.accessKeyId) === data.token && data.token)) {
      socket.emit("401", { message: "unauthorized access" });
      socket.disconnect(true);
      return;
    }
    socket.emit("authe_ok", { message: "authorized successfully" });
    socket.emit("welcome", { user: data && data.accessKeyId }, "second argument");
  });
  socket.onAny((event, ...rest) => {
    if (event === "login") return;
    const ack = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    const data = printable(rest[0]);
    say({ event, data, ack: !!ack, ...(rest.length > 1 ? { args: printable(rest) } : {}) });
    if (event === "ping") {
      if (ack) ack("pong");
      return;
    }
    if (ack) ack({ got: event }, ...rest.filter((x) => Buffer.isBuffer(x)));
    socket.emit("echo", { event, data });
  });
  socket.on("disconnect", (reason) => say({ event: "disconnect", reason }));
});
process.stdin.setEncoding("utf8");
let buf = "";
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const [cmd, name, ...more] = line.split(" ");
    const rest = more.join(" ");
    if (cmd === "token") tokens.set(name, rest);
    else if (cmd === "emit") io.emit(name, JSON.parse(rest));
    else if (cmd === "emitbin") io.emit(name, { file: Buffer.from(rest, "hex"), n: 1 });
    else if (cmd === "ask") {
      for (const s of io.of("/").sockets.values()) {
        s.timeout(5000).emit(name, JSON.parse(rest), (err, ...answer) =>
          say({ event: "answer", error: err ? String(err.message || err) : null, data: printable(answer) }),
        );
      }
    }
  }
});
server.listen(0, "127.0.0.1", () => say({ event: "listening", port: server.address().port }));
