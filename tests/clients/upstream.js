// A small upstream application for bench/proxy.sh: answers every request
// with a short JSON body naming the X-Otpgate-User it was given.
"use strict";
const http = require("http");
const port = Number(process.argv[2]);
http
  .createServer((req, res) => {
    const body = JSON.stringify({ ok: true, user: req.headers["x-otpgate-user"] || null, path: req.url });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(port, "127.0.0.1", () => process.stdout.write("listening\n"));
