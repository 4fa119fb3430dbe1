// The API reference page (/api/docs/, Swagger UI embedded in the binary)
// in Debian's Chromium driven by playwright-core, offline: every request
// to another origin is aborted and counted, and the page must still render
// the operations of /api/openapi.json with no console error (a CSP
// violation is one).
//
//   node docs.spec.js BASE_URL OUT_DIR [API_PREFIX]
//
// Saves docs.png in OUT_DIR. The last line of stdout is a JSON summary.
"use strict";

const path = require("node:path");
const { chromium } = require("playwright-core");

const [base, outDir, apiPrefix = "/api"] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: node docs.spec.js BASE_URL OUT_DIR [API_PREFIX]");
  process.exit(2);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const problems = [];
  const foreign = [];
  try {
    const page = await browser.newPage();
    const origin = new URL(base).origin;
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")) {
        return route.continue();
      }
      foreign.push(url);
      return route.abort();
    });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push("console: " + m.text());
    });
    page.on("pageerror", (e) => problems.push("pageerror: " + e.message));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
    });
    await page.goto(base + apiPrefix + "/docs/", { waitUntil: "load" });
    await page.waitForSelector(".opblock", { timeout: 30000 });
    const operations = await page.locator(".opblock").count();
    const title = (await page.locator(".info .title").first().textContent()) || "";
    // Open one operation: its responses render from the document.
    await page.locator(".opblock-summary").first().click();
    await page.waitForSelector(".responses-wrapper", { timeout: 10000 });
    await page.screenshot({ path: path.join(outDir, "docs.png"), fullPage: false });
    const ok = problems.length === 0 && foreign.length === 0 && operations > 0;
    console.log(JSON.stringify({ ok, operations, title: title.trim(), problems, foreign }));
    process.exitCode = ok ? 0 : 1;
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: String(e), problems, foreign }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
