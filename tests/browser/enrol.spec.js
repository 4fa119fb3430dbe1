// The self-service page (/ui/) for a user who must have 2FA and has none
// (API.md §11, `two_factor.required`), driven in Debian's Chromium by
// playwright-core: after the password, the page goes straight to the QR
// code, then the first code, then the recovery codes, and only then to
// the account view (where turning 2FA off is not offered). TOTP codes are
// computed here (tests/browser/totp.js, node's crypto).
//
//   node enrol.spec.js BASE_URL USERNAME PASSWORD OUT_DIR [API_PREFIX]
//
// Saves a PNG screenshot of every step in OUT_DIR. Fails (exit 1) on any
// console error, page error, failed request or HTTP error answer. The
// last line of stdout is a JSON summary for tests/e2e/ui.rs.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { base32Decode, stepNow, totpAt } = require("./totp");

const [base, username, password, outDir, apiPrefix = "/api"] = process.argv.slice(2);
if (!base || !username || !password || !outDir) {
  console.error("usage: node enrol.spec.js BASE_URL USERNAME PASSWORD OUT_DIR [API_PREFIX]");
  process.exit(2);
}

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const problems = [];
const screenshots = [];
let lastBearer = null;

function check(where) {
  if (problems.length) throw new Error(`${where}: ${problems.join("; ")}`);
}

function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) {
    if (/\.png$/.test(f)) fs.rmSync(path.join(outDir, f), { force: true });
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "otpgate-enrol-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 900, height: 900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  try {
    await steps(page);
  } catch (err) {
    await page.screenshot({ path: path.join(outDir, "failure.png"), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** A call of the API from node with `token` (not through the page). */
async function apiStatus(method, p, token) {
  const r = await fetch(base + apiPrefix + p, { method, headers: { Authorization: "Bearer " + token } });
  let body = null;
  try {
    body = await r.json();
  } catch (e) {
    body = null;
  }
  return { status: r.status, body };
}

async function steps(page) {
  page.setDefaultTimeout(15000);
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (r) => {
    if (r.url().startsWith("blob:")) return;
    problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`);
  });
  page.on("request", (r) => {
    const auth = r.headers()["authorization"];
    if (auth && auth.startsWith("Bearer ")) lastBearer = auth.slice(7);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });

  let n = 0;
  async function shot(name) {
    n += 1;
    const file = path.join(outDir, `${String(n).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(path.basename(file));
    check(name);
  }
  const notice = page.locator("#notice");
  const heading = (name) => page.getByRole("heading", { level: 2, name, exact: true });

  async function logIn() {
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
  }

  // 1. The login form.
  const resp = await page.goto(base + "/ui/");
  assert(resp && resp.status() === 200, "GET /ui/ is 200");
  await heading("Log in").waitFor();
  await shot("login");

  // 2. The password leads straight to the set-up: QR code and key, with
  //    the reason said. The token the page holds is a set-up token: the
  //    server refuses it anywhere but the enrolment routes.
  await logIn();
  await heading("Set up your authenticator app").waitFor();
  await page.locator("#enrol-required").filter({ hasText: "Your administrator requires two-factor" }).waitFor();
  await page.waitForFunction(() => {
    const img = document.getElementById("enrol-qr");
    return img && img.complete && img.naturalWidth > 0;
  });
  const key = (await page.locator("#enrol-key").textContent()).trim();
  assert(/^[A-Z2-7]{32}$/.test(key), "a 20-byte base32 key: " + key);
  const secret = base32Decode(key);
  const setupToken = lastBearer;
  const me = await apiStatus("GET", "/user/me", setupToken);
  assert(me.status === 403 && me.body && me.body.message === "2fa_setup_required", "set-up token refused: " + JSON.stringify(me));
  const st = await apiStatus("GET", "/2fa/status", setupToken);
  assert(st.status === 200 && st.body.status === false && st.body.required === true, "status: " + JSON.stringify(st));
  await shot("setup-qr-and-key");

  // 3. The first code turns 2FA on; the recovery codes come next.
  const enrolStep = stepNow();
  await page.getByLabel("Code from your authenticator app", { exact: true }).fill(totpAt(secret, enrolStep));
  await page.getByRole("button", { name: "Confirm and turn on" }).click();
  await heading("Create your recovery codes").waitFor();
  await notice.filter({ hasText: "Two-factor authentication is on." }).waitFor();
  assert(
    await page.evaluate(() => document.activeElement && document.activeElement.id === "setup-codes-password"),
    "focus on the password field",
  );
  await shot("setup-codes-step");

  // 4. The password: five codes, shown once.
  await page.locator("#setup-codes-form").getByLabel("Your password").fill(password);
  await page.getByRole("button", { name: "Create recovery codes" }).click();
  await heading("Your recovery codes").waitFor();
  const codes = (await page.locator("#codes-list li").allTextContents()).map((c) => c.trim());
  assert(codes.length === 5 && codes.every((c) => /^\d{6}$/.test(c)), "5 codes of 6 digits: " + codes);
  assert(lastBearer !== setupToken, "the API is called with the verified token after enrolment");
  const gone = await apiStatus("GET", "/2fa/status", setupToken);
  assert(gone.status === 401, "the set-up token was swapped, got " + gone.status);
  await shot("setup-recovery-codes");

  // 5. Only then the account view: 2FA on, turning it off not offered.
  await page.getByRole("button", { name: "I have saved them" }).click();
  await heading("Your account").waitFor();
  await page.locator("#tfa-status").filter({ hasText: /^on$/ }).waitFor();
  assert(await page.locator("#disable-form").isHidden(), "no disable form where 2FA is required");
  assert(await page.locator("#account-required").isVisible(), "the requirement is said");
  await shot("setup-account");

  // 6. The next login is the usual code step.
  await page.getByRole("button", { name: "Log out" }).click();
  await heading("Log in").waitFor();
  await logIn();
  await heading("Enter your code").waitFor();
  await shot("next-login-otp-step");
  await page.getByLabel("Code from your authenticator app or a recovery code").fill(totpAt(secret, Math.max(enrolStep + 1, stepNow())));
  await page.getByRole("button", { name: "Verify" }).click();
  await heading("Your account").waitFor();
  await page.locator("#tfa-status").filter({ hasText: /^on$/ }).waitFor();
  await shot("next-login-account");

  check("end");
  console.log(JSON.stringify({ ok: true, screenshots, key, codes }));
}

const guard = setTimeout(() => {
  console.error("enrol.spec.js: timed out");
  process.exit(1);
}, 180000);

main().then(
  () => clearTimeout(guard),
  (err) => {
    clearTimeout(guard);
    console.error("enrol.spec.js: " + (err && err.stack ? err.stack : err));
    process.exit(1);
  },
);
