// A small upstream Socket.IO server (the npm package socket.io, not
// otpgate's code) for the end-to-end test of otpgate's relay
// (`upstream.ws_url`).
//
// node upstream-sio.js
//   Listens on a free loopback port with the default path /socket.io/ and
//   prints one JSON line per thing that happens:
//   {"event":"listening","port":N}
//   {"event":"connection","user":<X-Otpgate-User>,"authorization":bool,"cookie":bool,"transport":"websocket"}
//   {"event":"login","data":{...}}           (then emits `welcome` {"user": accessKeyId}, "second argument")
//   {"event":NAME,"data":...}                (any other event; echoed back as `echo` {event, data})
//   {"event":"disconnect","reason":...}
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const server = http.createServer();
const io = new Server(server, { transports: ["websocket"] });
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
    socket.emit("authe_ok", { message: "authorized successfully" });
    socket.emit("welcome", { user: data && data.accessKeyId }, "second argument");
  });
  socket.onAny((event, data) => {
    if (event === "login") return;
    say({ event, data });
    socket.emit("echo", { event, data });
  });
  socket.on("disconnect", (reason) => say({ event: "disconnect", reason }));
});
server.listen(0, "127.0.0.1", () => say({ event: "listening", port: server.address().port }));
