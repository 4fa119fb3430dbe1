// The self-service page (/ui/) driven in Debian's Chromium by
// playwright-core: the whole 2FA enrolment as a user does it, with TOTP
// codes computed here (RFC 6238 with node's crypto, not otpgate's code).
//
//   node ui.spec.js BASE_URL USERNAME PASSWORD OUT_DIR [API_PREFIX]
//
// API_PREFIX is the server's `api_prefix` (default /api); the page must
// find it by itself, the script only uses it to check a token afterwards.
// Saves a PNG screenshot of every step in OUT_DIR, and the downloaded
// recovery codes file. Fails (exit 1) on any console error, page error,
// failed request or HTTP error answer that the step did not provoke on
// purpose. The last line of stdout is a JSON summary for the Rust test
// (tests/e2e/ui.rs) that runs this script against the real binary.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const [base, username, password, outDir, apiPrefix = "/api"] = process.argv.slice(2);
if (!base || !username || !password || !outDir) {
  console.error("usage: node ui.spec.js BASE_URL USERNAME PASSWORD OUT_DIR [API_PREFIX]");
  process.exit(2);
}

const { base32Decode, stepNow, totpAt } = require("./totp");

// ---- the run ------------------------------------------------------------------

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
const expected = [];
const screenshots = [];
let lastBearer = null;

/** The next HTTP error answer on `suffix` with `status` is on purpose. */
function expectFailure(suffix, status) {
  expected.push({ suffix, status, response: false, console: false });
}

function check(where) {
  if (problems.length) {
    throw new Error(`${where}: ${problems.join("; ")}`);
  }
}

function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  // Only this run's files: screenshots and the download of an earlier run.
  for (const f of fs.readdirSync(outDir)) {
    if (/\.(png|txt)$/.test(f)) fs.rmSync(path.join(outDir, f), { force: true });
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "otpgate-ui-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    viewport: { width: 900, height: 900 },
  });
  try {
    await run(context);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(context) {
  const page = context.pages()[0] || (await context.newPage());
  try {
    await steps(page);
  } catch (err) {
    await page.screenshot({ path: path.join(outDir, "failure.png"), fullPage: true }).catch(() => {});
    throw err;
  }
}

async function steps(page) {
  page.setDefaultTimeout(15000);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = (m.location() && m.location().url) || "";
    const e = expected.find((x) => !x.console && url.endsWith(x.suffix) && m.text().includes(String(x.status)));
    if (e) e.console = true;
    else problems.push(`console error: ${m.text()} (${url})`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (r) => {
    // A blob: download handed to the download manager is not a failure.
    if (r.url().startsWith("blob:")) return;
    problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`);
  });
  page.on("request", (r) => {
    const auth = r.headers()["authorization"];
    if (auth && auth.startsWith("Bearer ")) lastBearer = auth.slice(7);
    if (!r.url().startsWith(base) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) {
      problems.push(`request to another origin: ${r.url()}`);
    }
  });
  page.on("response", (r) => {
    if (r.status() < 400) return;
    const e = expected.find((x) => !x.response && r.url().endsWith(x.suffix) && r.status() === x.status);
    if (e) e.response = true;
    else problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });

  let n = 0;
  async function shot(name) {
    n += 1;
    const file = path.join(outDir, `${String(n).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(path.basename(file));
    check(name);
  }
  const alert = page.locator("#alert");
  const notice = page.locator("#notice");
  const status = page.locator("#tfa-status");
  const heading = (name) => page.getByRole("heading", { level: 2, name });

  async function noStoredSession() {
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
    }));
    assert(stored.local === 0 && stored.session === 0 && stored.cookie === "", "nothing stored: " + JSON.stringify(stored));
  }

  async function logIn(pw) {
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password", { exact: true }).fill(pw);
    await page.getByRole("button", { name: "Log in" }).click();
  }

  async function logOut() {
    await page.getByRole("button", { name: "Log out" }).click();
    await heading("Log in").waitFor();
    await notice.filter({ hasText: "You are logged out." }).waitFor();
  }

  // 1. The page, by keyboard: the username field has the focus.
  const resp = await page.goto(base + "/ui/");
  assert(resp && resp.status() === 200, "GET /ui/ is 200");
  assert((resp.headers()["content-security-policy"] || "").includes("script-src 'self'"), "CSP header");
  await heading("Log in").waitFor();
  assert(await page.evaluate(() => document.activeElement && document.activeElement.id === "login-username"), "focus on username");
  await shot("login");

  // 2. A wrong password: the error is announced in the alert region.
  expectFailure("/login", 401);
  await page.keyboard.type(username);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password + "-wrong");
  await page.keyboard.press("Enter");
  await alert.filter({ hasText: "Wrong username or password." }).waitFor();
  await shot("login-wrong-password");

  // 3. Log in (2FA off): the account view, status off.
  await logIn(password);
  await heading("Your account").waitFor();
  assert((await status.textContent()) === "off", "status off");
  await noStoredSession();
  await shot("account-2fa-off");

  // 4. Enrol: the server's QR image (via a blob: URL) and the key as text.
  await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
  await heading("Set up your authenticator app").waitFor();
  const qr = page.getByRole("img", { name: "QR code to scan with your authenticator app" });
  await page.waitForFunction(() => {
    const img = document.getElementById("enrol-qr");
    return img && img.complete && img.naturalWidth > 0;
  });
  assert((await qr.getAttribute("src")).startsWith("blob:"), "QR shown from a blob: URL");
  const key = (await page.locator("#enrol-key").textContent()).trim();
  assert(/^[A-Z2-7]{32}$/.test(key), "a 20-byte base32 key: " + key);
  const secret = base32Decode(key);
  await shot("enrol-qr-and-key");

  // 5. A wrong code is refused, with the error announced.
  const s0 = stepNow();
  const valid = new Set([-1, 0, 1, 2].map((d) => totpAt(secret, s0 + d)));
  let wrong = "000000";
  while (valid.has(wrong)) wrong = String(Number(wrong) + 1).padStart(6, "0");
  expectFailure("/2fa/verify-otp", 400);
  await page.getByLabel("Code from your authenticator app", { exact: true }).fill(wrong);
  await page.getByRole("button", { name: "Confirm and turn on" }).click();
  await alert.filter({ hasText: "That code is wrong" }).waitFor();
  await shot("enrol-wrong-code");

  // 6. Confirm with the current code: 2FA on, a new token replaces the old.
  const enrolStep = stepNow();
  const tokenBefore = lastBearer;
  await page.getByLabel("Code from your authenticator app", { exact: true }).fill(totpAt(secret, enrolStep));
  await page.getByRole("button", { name: "Confirm and turn on" }).click();
  await heading("Your account").waitFor();
  await status.filter({ hasText: /^on$/ }).waitFor();
  await notice.filter({ hasText: "Two-factor authentication is on." }).waitFor();
  await shot("account-2fa-on");

  // 7. Recovery codes (password), shown once, downloaded as a text file.
  await page.locator("#codes-form").getByLabel("Your password").fill(password);
  await page.getByRole("button", { name: "Generate new recovery codes" }).click();
  await heading("Your recovery codes").waitFor();
  assert(lastBearer !== tokenBefore, "the API is called with the new token after enrolment");
  const codes = (await page.locator("#codes-list li").allTextContents()).map((c) => c.trim());
  assert(codes.length === 5 && codes.every((c) => /^\d{6}$/.test(c)), "5 codes of 6 digits: " + codes);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download as a text file" }).click(),
  ]);
  const downloadFile = path.join(outDir, "recovery-codes.txt");
  await download.saveAs(downloadFile);
  const downloaded = fs.readFileSync(downloadFile, "utf8");
  for (const c of codes) assert(downloaded.includes(c), "download holds " + c);
  await shot("recovery-codes");
  await page.getByRole("button", { name: "I have saved them" }).click();
  await heading("Your account").waitFor();

  // 8. Log out; the token the page held is refused by the server now.
  const heldToken = lastBearer;
  await logOut();
  const after = await fetch(base + apiPrefix + "/2fa/status", { headers: { Authorization: "Bearer " + heldToken } });
  assert(after.status === 401, "logged-out token refused, got " + after.status);
  await noStoredSession();
  await shot("logged-out");

  // 9. Log in again: the password alone leads to the code step.
  await logIn(password);
  await heading("Enter your code").waitFor();
  assert(await page.evaluate(() => document.activeElement.id === "otp-code"), "focus on the code field");
  await shot("otp-step");

  // 10. The code of the next 30-second step (a code is accepted only once).
  const secondStep = Math.max(enrolStep + 1, stepNow());
  await page.keyboard.type(totpAt(secret, secondStep));
  await page.keyboard.press("Enter");
  await heading("Your account").waitFor();
  await status.filter({ hasText: /^on$/ }).waitFor();
  await shot("account-after-otp");

  // 11. Regenerate the recovery codes: a new set replaces the old one.
  await page.locator("#codes-form").getByLabel("Your password").fill(password);
  await page.getByRole("button", { name: "Generate new recovery codes" }).click();
  await heading("Your recovery codes").waitFor();
  const codes2 = (await page.locator("#codes-list li").allTextContents()).map((c) => c.trim());
  assert(codes2.length === 5 && codes2.join() !== codes.join(), "a new set: " + codes2);
  await shot("recovery-codes-regenerated");
  await page.getByRole("button", { name: "I have saved them" }).click();
  await heading("Your account").waitFor();

  // 12. Disable 2FA (password): every session ends, back to the login.
  await page.locator("#disable-form").getByLabel("Your password").fill(password);
  await page.getByRole("button", { name: "Turn off two-factor authentication" }).click();
  await heading("Log in").waitFor();
  await notice.filter({ hasText: "Two-factor authentication is off." }).waitFor();
  await shot("2fa-disabled");

  // 13. Log in without a code now; status off; log out.
  await logIn(password);
  await heading("Your account").waitFor();
  assert((await status.textContent()) === "off", "status off again");
  await shot("account-2fa-off-again");
  await logOut();
  await shot("logged-out-again");

  for (const e of expected) assert(e.response, `the provoked ${e.status} on ${e.suffix} happened`);
  check("end");
  console.log(JSON.stringify({ ok: true, screenshots, key, codes, codes2, download: downloadFile }));
}

const guard = setTimeout(() => {
  console.error("ui.spec.js: timed out");
  process.exit(1);
}, 180000);

main().then(
  () => {
    clearTimeout(guard);
  },
  (err) => {
    clearTimeout(guard);
    console.error("ui.spec.js: " + (err && err.stack ? err.stack : err));
    process.exit(1);
  },
);
