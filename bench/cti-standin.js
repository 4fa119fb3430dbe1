// bench/cti-standin.js: a CTI server stand-in for bench/run.sh's nethcti
// login row (API.md §9; the tests' own stand-in is
// crates/http/tests/it/cti_server.rs). Node's http, no dependency.
//
// node bench/cti-standin.js PASSWORD
//   Listens on a free loopback port under /webrest and prints the port.
//   Every user has PASSWORD. The challenge's nonce is fixed per user (a
//   benchmark, not a test), so concurrent logins of one user agree.
"use strict";
const http = require("http");
const crypto = require("crypto");

const password = process.argv[2];
const nonceOf = (user) => crypto.createHash("sha1").update("nonce:" + user).digest("hex");
const tokenOf = (user) =>
  crypto.createHmac("sha1", password).update(`${user}:${password}:${nonceOf(user)}`).digest("hex");
const answer = (res, status, body, headers = {}) => {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(text);
};
// `user:token` with the right challenge token.
const granted = (req) => {
  const auth = req.headers.authorization || "";
  const i = auth.indexOf(":");
  return i > 0 && auth.slice(i + 1) === tokenOf(auth.slice(0, i)) ? auth.slice(0, i) : null;
};
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    if (req.method === "POST" && req.url === "/webrest/authentication/login") {
      let b = {};
      try {
        b = JSON.parse(body);
      } catch (_) {}
      if (b.password === password && typeof b.username === "string") {
        return answer(res, 401, undefined, { "WWW-Authenticate": `Digest ${nonceOf(b.username)}` });
      }
      return answer(res, 401);
    }
    const user = granted(req);
    if (!user) return answer(res, 401);
    if (req.method === "GET" && req.url === "/webrest/user/me") {
      return answer(res, 200, { username: user, name: user, mainPresence: "online" });
    }
    if (req.method === "POST" && req.url === "/webrest/authentication/phone_island_token_login") {
      return answer(res, 200, { token: crypto.randomBytes(20).toString("hex") });
    }
    if (req.method === "POST" && req.url === "/webrest/authentication/persistent_token_remove") {
      return answer(res, 204);
    }
    answer(res, 404);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
