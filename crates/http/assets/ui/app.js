// otpgate self-service page: log in, 2FA status, enrolment, recovery
// codes, disable, log out. Plain JS calling the native JSON API on the
// same origin. A user who must have 2FA and has none (API.md §11: the
// login answers a set-up token, `2fa_setup: true`) is taken straight
// through the enrolment: QR code, first code, recovery codes, and only
// then the account view.
//
// Security model:
// - The token lives only in the variable `session` below: never in web
//   storage or a cookie. Reloading the page forgets it.
// - Every API call sends the token as `Authorization: Bearer`, which a
//   page of another origin cannot make a browser add (no cookies are
//   involved, and fetch runs with credentials: "omit"), so there is no
//   CSRF to defend against.
// - The page is served with a Content-Security-Policy that allows only
//   this file and style.css: no inline scripts or styles, nothing from
//   another origin.
"use strict";

(function () {
  const API = (document.body.dataset.apiPrefix || "/api").replace(/\/+$/, "");

  /** The current session: { token, username, verified, twoFactor, setup } or null. */
  let session = null;
  /** The object URL of the QR image being shown, revoked when it goes. */
  let qrUrl = null;
  /** The recovery codes being shown, forgotten when the view closes. */
  let shownCodes = [];

  const $ = (id) => document.getElementById(id);

  const VIEWS = ["view-login", "view-otp", "view-account", "view-enrol", "view-setup-codes", "view-codes"];

  // ---- messages (aria-live regions) ------------------------------------

  function say(text) {
    $("alert").textContent = "";
    $("notice").textContent = text;
  }

  function fail(text) {
    $("notice").textContent = "";
    $("alert").textContent = text;
  }

  function clearMessages() {
    $("alert").textContent = "";
    $("notice").textContent = "";
  }

  // Short, human text for the API's stable error messages.
  const ERRORS = {
    invalid_credentials: "Wrong username or password.",
    invalid_password: "Wrong password.",
    invalid_otp: "That code is wrong or has already been used. Wait for the next code and try again.",
    user_secret_not_found: "There is nothing to confirm yet: start the set-up again.",
    "2fa_already_enabled": "Two-factor authentication is already on.",
    "2fa_not_enabled": "Two-factor authentication is off.",
    otp_verification_required: "Enter your code first.",
    "2fa_setup_required": "Set up two-factor authentication first.",
    "2fa_required_by_policy": "Two-factor authentication is required for your account: it cannot be turned off.",
    token_expired: "Your session has expired. Please log in again.",
    token_revoked: "Your session has ended. Please log in again.",
    invalid_token: "Your session is not valid. Please log in again.",
    missing_token: "Please log in.",
    server_busy: "The server is busy. Try again in a moment.",
    store_unavailable: "The server cannot reach its database. Try again in a moment.",
    invalid_request: "Please fill in every field.",
  };

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      const key = body && typeof body.message === "string" ? body.message : "";
      let text = ERRORS[key] || (body && body.error) || "The request failed (HTTP " + status + ").";
      if (status === 429) {
        text = "Too many attempts. Try again" + (retryAfter ? " in " + retryAfter + " seconds." : " later.");
      }
      super(text);
      this.status = status;
      this.key = key;
    }
  }

  // ---- the API -----------------------------------------------------------

  async function api(method, path, body, accept) {
    const headers = { Accept: accept || "application/json" };
    if (session) headers.Authorization = "Bearer " + session.token;
    const init = { method, headers, credentials: "omit", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, { error: "The server cannot be reached." });
    }
    if (!resp.ok) {
      let err = null;
      try {
        err = await resp.json();
      } catch (e) {
        err = null;
      }
      throw new ApiError(resp.status, err, resp.headers.get("Retry-After"));
    }
    return accept && accept !== "application/json" ? resp.blob() : resp.json();
  }

  // The claims of a JWT (the server checks the signature; the page only
  // reads `sub`, `2fa` and `otp_verified` to know which step comes next).
  function claimsOf(token) {
    const part = String(token).split(".")[1] || "";
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function startSession(token) {
    const c = claimsOf(token);
    const twoFactor = c["2fa"] === true;
    const setup = c["2fa_setup"] === true;
    session = {
      token,
      username: String(c.sub || c.id || ""),
      twoFactor,
      setup,
      verified: !setup && (!twoFactor || c.otp_verified === true),
    };
    $("who-name").textContent = session.username;
    $("who").hidden = false;
  }

  function endSession() {
    session = null;
    forgetQr();
    forgetCodes();
    $("who").hidden = true;
    $("who-name").textContent = "";
    for (const id of ["login-password", "otp-code", "enrol-code", "setup-codes-password", "codes-password", "disable-password"]) {
      $(id).value = "";
    }
  }

  // An API error that means the token is gone: back to the login form.
  function handle(err) {
    if (err instanceof ApiError && err.status === 401 && session && err.key !== "invalid_password") {
      endSession();
      show("view-login");
    }
    fail(err.message || String(err));
  }

  // ---- views ---------------------------------------------------------------

  function show(id, focusId) {
    for (const v of VIEWS) $(v).hidden = v !== id;
    const target = $(focusId || id.replace("view-", "") + "-h");
    if (target) target.focus();
  }

  async function showAccount() {
    const st = await api("GET", "/2fa/status");
    const on = st.status === true;
    $("tfa-status").textContent = on ? "on" : "off";
    $("tfa-status").className = "badge " + (on ? "on" : "off");
    $("account-on").hidden = !on;
    $("account-off").hidden = on;
    // Where 2FA is required, turning it off is refused: not offered.
    $("disable-form").hidden = st.required === true;
    $("account-required").hidden = st.required !== true;
    show("view-account");
  }

  function forgetQr() {
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = null;
    $("enrol-qr").removeAttribute("src");
    $("enrol-key").textContent = "";
  }

  function forgetCodes() {
    shownCodes = [];
    $("codes-list").replaceChildren();
  }

  function busy(form, on) {
    for (const b of form.querySelectorAll("button")) b.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  // Runs `work` for a form submit: no page navigation, buttons disabled
  // while it runs, errors to the alert region.
  function onSubmit(formId, work) {
    const form = $(formId);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearMessages();
      busy(form, true);
      try {
        await work(form);
      } catch (err) {
        handle(err);
      } finally {
        busy(form, false);
      }
    });
  }

  function onClick(id, work) {
    const button = $(id);
    button.addEventListener("click", async () => {
      clearMessages();
      button.disabled = true;
      try {
        await work();
      } catch (err) {
        handle(err);
      } finally {
        button.disabled = false;
      }
    });
  }

  function required(input, what) {
    const v = input.value.trim();
    if (!v) {
      input.focus();
      throw new Error("Please enter " + what + ".");
    }
    return v;
  }

  // ---- the steps ------------------------------------------------------------

  onSubmit("login-form", async () => {
    const username = required($("login-username"), "your username");
    const password = required($("login-password"), "your password");
    const r = await api("POST", "/login", { username, password });
    $("login-password").value = "";
    startSession(r.token);
    if (session.setup) {
      await showEnrol();
      say("Password accepted. Your administrator requires two-factor authentication: set it up now.");
    } else if (session.verified) {
      await showAccount();
      say("You are logged in.");
    } else {
      show("view-otp", "otp-code");
      say("Password accepted. Now enter your code.");
    }
  });

  onSubmit("otp-form", async () => {
    const otp = required($("otp-code"), "the code").replace(/\s+/g, "");
    const r = await api("POST", "/2fa/verify-otp", { username: session.username, otp });
    $("otp-code").value = "";
    startSession(r.data.token);
    await showAccount();
    say("You are logged in.");
  });

  onClick("otp-cancel", logout);
  onClick("logout", logout);

  async function logout() {
    try {
      if (session) await api("POST", "/logout");
    } catch (err) {
      // A token the server no longer accepts is as good as logged out.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    } finally {
      endSession();
      show("view-login", "login-username");
    }
    say("You are logged out.");
  }

  onClick("enrol-start", showEnrol);

  // The enrolment view: the server's QR image and the key as text. In the
  // mandatory set-up (a set-up token) it says why, and cancel logs out.
  async function showEnrol() {
    $("enrol-required").hidden = !(session && session.setup);
    const q = await api("GET", "/2fa/qr-code");
    const png = await api("GET", "/2fa/qr-code.png", undefined, "image/png");
    forgetQr();
    qrUrl = URL.createObjectURL(png);
    $("enrol-qr").src = qrUrl;
    $("enrol-key").textContent = q.data.key;
    show("view-enrol");
  }

  onSubmit("enrol-form", async () => {
    const otp = required($("enrol-code"), "the code from your app").replace(/\s+/g, "");
    const r = await api("POST", "/2fa/verify-otp", { username: session.username, otp });
    $("enrol-code").value = "";
    const mandatory = session.setup;
    // Enabling 2FA revokes every older token: this one replaces it.
    startSession(r.data.token);
    forgetQr();
    if (mandatory) {
      // The set-up goes on with the recovery codes before anything else.
      show("view-setup-codes", "setup-codes-password");
      say("Two-factor authentication is on. Now create your recovery codes.");
      return;
    }
    await showAccount();
    say("Two-factor authentication is on. Now generate your recovery codes.");
    $("codes-password").focus();
  });

  onClick("enrol-cancel", async () => {
    forgetQr();
    $("enrol-code").value = "";
    // A set-up token opens nothing else: cancelling the set-up logs out.
    if (session && session.setup) return logout();
    await showAccount();
  });

  onSubmit("setup-codes-form", () => newRecoveryCodes("setup-codes-password"));
  onSubmit("codes-form", () => newRecoveryCodes("codes-password"));

  // A new set of recovery codes (the password from `passwordId`), shown once.
  async function newRecoveryCodes(passwordId) {
    const password = required($(passwordId), "your password");
    const r = await api("POST", "/2fa/recovery-codes", { password });
    $(passwordId).value = "";
    shownCodes = r.codes.map(String);
    $("codes-list").replaceChildren(
      ...shownCodes.map((c) => {
        const li = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = c;
        li.append(code);
        return li;
      }),
    );
    show("view-codes");
    say("New recovery codes generated; any older ones no longer work.");
  }

  onClick("codes-download", async () => {
    const text =
      "otpgate recovery codes for " + session.username + "\n" +
      "Generated " + new Date().toISOString() + ". Each code works once.\n\n" +
      shownCodes.join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "otpgate-recovery-codes-" + session.username + ".txt";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });

  onClick("codes-done", async () => {
    forgetCodes();
    await showAccount();
  });

  onSubmit("disable-form", async () => {
    const password = required($("disable-password"), "your password");
    await api("POST", "/2fa/disable", { username: session.username, password });
    // Every token of the user is revoked now, this one too.
    endSession();
    show("view-login", "login-username");
    say("Two-factor authentication is off. You have been logged out everywhere; log in again.");
  });

  // ---- start -----------------------------------------------------------------

  endSession();
  show("view-login", "login-username");
})();
