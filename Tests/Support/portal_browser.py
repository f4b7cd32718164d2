#!/usr/bin/env python3
"""Drives the portal of a running `tarmac up` in a real headless Chromium (selenium + chromedriver).

Called by Tests/TarmacServerTests/PortalBrowserTests.swift with one JSON argument:
  {"url", "member": {"token", "tokenId"}, "admin", "otherTeamWorkload", "cancelWorkload", "xssWorkload", "screenshots"}
Prints one JSON object: {"checks": {name: true | "what went wrong"}, "states": [...], "pages": {name: bytes}}.
Every check is attempted; a failed one says what was seen instead. Screenshots of every page at desktop and phone
widths go to the "screenshots" folder.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

cfg = json.loads(sys.argv[1])
BASE = cfg["url"]
SHOTS = cfg["screenshots"]
os.makedirs(SHOTS, exist_ok=True)
checks = {}
pages = {}
unlabeled = {}


def check(name, ok, seen=""):
    checks[name] = True if ok else (seen or "false")


def attempt(name, fn):
    try:
        fn()
    except Exception as e:  # a failed step is a failed check, and the rest still run
        what = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        if name in checks:  # the step's first check passed: the failure is one of the later ones
            checks["step failed after '%s'" % name] = what
        else:
            checks[name] = what


options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"]:
    options.add_argument(a)
service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
d = webdriver.Chrome(options=options, service=service)
d.set_page_load_timeout(30)
wait = WebDriverWait(d, 20)


def shoot(name):
    """The page at desktop and phone widths, and its weight (the HTML as served, without images)."""
    pages[name] = len(d.page_source.encode("utf-8"))
    # Every control has a name a screen reader says (a label, aria-label or aria-labelledby; a button its text), and
    # the first thing the keyboard reaches is the skip link.
    missing = d.execute_script("""
        return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button')).filter(function (c) {
          if (c.tagName === 'BUTTON') { return !c.textContent.trim() && !c.getAttribute('aria-label'); }
          return !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !c.getAttribute('aria-labelledby');
        }).map(function (c) { return c.outerHTML.slice(0, 80); });
    """)
    if missing:
        unlabeled[name] = missing
    first = d.execute_script("var f = document.querySelector('a[href], button, input:not([type=hidden]), select, textarea'); return f && f.className")
    if first != "skip":
        unlabeled[name + " (first focusable)"] = [str(first)]
    d.execute_script("window.scrollTo(0, 0); if (document.activeElement) { document.activeElement.blur(); }")
    for label, (w, h) in [("desktop", (1280, 900)), ("phone", (390, 844))]:
        d.set_window_size(w, h)
        time.sleep(0.2)
        height = d.execute_script("return Math.max(document.body.scrollHeight, 400)")
        d.set_window_size(w, min(int(height) + 120, 4000))
        d.save_screenshot(os.path.join(SHOTS, "%s-%s.png" % (name, label)))
    d.set_window_size(1280, 900)


def http(method, path, cookie=None, data=None, headers=None):
    """A request outside the browser, with or without the browser's session cookie: the status, the Location, the body."""
    req = urllib.request.Request(BASE + path, method=method, data=data.encode() if data is not None else None)
    if cookie:
        req.add_header("Cookie", "tarmac_session=" + cookie)
    for k, v in (headers or {}).items():
        req.add_header(k, v)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        r = opener.open(req, timeout=10)
        return r.status, r.headers.get("Location"), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read().decode("utf-8", "replace")


def session_cookie():
    c = d.get_cookie("tarmac_session")
    return c["value"] if c else None


def sign_in(token):
    d.get(BASE + "/portal/signin")
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(EC.url_contains("/portal/workloads"))


def no_injection(where):
    """Nothing a user or a workload wrote ran or became markup: no flag set, no alert, no <img>, one script (ours)."""
    flag = d.execute_script("return window.__xss === undefined ? null : String(window.__xss)")
    imgs = d.execute_script("return document.querySelectorAll('img').length")
    scripts = d.execute_script("return Array.from(document.scripts).map(s => s.src).join(',')")
    try:
        d.switch_to.alert
        alert = True
    except NoAlertPresentException:
        alert = False
    ok = flag is None and imgs == 0 and scripts.endswith("/portal/assets/portal.js") and "," not in scripts and not alert
    check(where, ok, "flag=%s imgs=%s scripts=%s alert=%s" % (flag, imgs, scripts, alert))


try:
    # 1. Sign in: a page behind sign-in sends to the sign-in page first.
    def step_signin():
        d.get(BASE + "/portal/workloads")
        check("unsigned goes to sign-in", "/portal/signin" in d.current_url, d.current_url)
        shoot("signin")
        d.find_element(By.ID, "token").send_keys("tmc_wrong")
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        err = wait.until(EC.presence_of_element_located((By.ID, "signin-error")))
        check("a wrong token is refused", "unknown, revoked or expired" in err.text, err.text)
        sign_in(cfg["member"]["token"])
        check("signed in", d.find_element(By.TAG_NAME, "h1").text == "My workloads", d.find_element(By.TAG_NAME, "h1").text)
        c = d.get_cookie("tarmac_session")
        check("cookie is HttpOnly and SameSite=Strict", c and c.get("httpOnly") and c.get("sameSite") == "Strict", str(c))
    attempt("signed in", step_signin)

    # 2. Sizes.
    def step_sizes():
        d.find_element(By.LINK_TEXT, "Sizes").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-size]")))
        rows = d.find_elements(By.CSS_SELECTOR, "tr[data-size]")
        small = [r.text for r in rows if r.get_attribute("data-size") == "cpu-small"]
        check("sizes lists cpu-small with what it is", bool(small) and "CPU" in small[0] and "starts" in small[0], str(small))
        shoot("sizes")
    attempt("sizes lists cpu-small with what it is", step_sizes)

    # 3. The live list in its own window, watched for state changes (a reload would drop the marker).
    def step_watch():
        d.get(BASE + "/portal/workloads")
        shoot("workloads")
        d.execute_script("""
            window.__marker = 'no reload';
            window.__states = [];
            new MutationObserver(function () {
              document.querySelectorAll('tr[data-id]').forEach(function (tr) {
                var name = tr.querySelector('a') && tr.querySelector('a').textContent;
                var st = tr.querySelector('.state') && tr.querySelector('.state').textContent;
                var last = window.__states.filter(function (s) { return s[0] === name; }).pop();
                if (name && st && (!last || last[1] !== st)) { window.__states.push([name, st]); }
              });
            }).observe(document.getElementById('workloads'), { subtree: true, childList: true, characterData: true });
        """)
    attempt("live list", step_watch)
    listWindow = d.current_window_handle

    # 4. The form in a second window: a typo in the image, its diagnostic next to the field, the fix, "fits now" and an
    #    estimated start, an injection attempt in the name shown as text.
    def step_form():
        d.switch_to.new_window("tab")
        d.get(BASE + "/portal/new")
        name = d.find_element(By.ID, "f-name")
        name.send_keys("<script>window.__xss=1</script>\"><img src=x onerror=\"window.__xss=4\">")
        d.find_element(By.ID, "f-image").send_keys("registry.acme.exmaple/train:1.0")
        Select(d.find_element(By.ID, "f-size")).select_by_value("cpu-small")
        d.find_element(By.ID, "f-command").send_keys("python3 train.py")
        # The working directory: a real folder of code, packed in the browser and uploaded.
        d.find_element(By.ID, "f-workdir-files").send_keys(cfg["workdirFolder"])
        status = d.find_element(By.ID, "workdir-status")
        try:
            wait.until(lambda _: status.text.startswith("uploaded") or status.text.startswith("not uploaded"))
        except TimeoutException:
            pass
        check("the folder is packed and uploaded", status.text.startswith("uploaded") and "2 files" in status.text, status.text)
        d.find_element(By.ID, "f-maxDuration").send_keys("5m")
        img = d.find_element(By.CSS_SELECTOR, '.problem[data-field="image"]')
        try:
            wait.until(lambda _: "did you mean 'registry.acme.example'" in img.text)
        except TimeoutException:
            pass
        check("image typo diagnosed next to the field", "registry.acme.exmaple" in img.text and "did you mean 'registry.acme.example'" in img.text, img.text)
        nm = d.find_element(By.CSS_SELECTOR, '.problem[data-field="name"]')
        check("a name with markup is diagnosed as text", "<script>" in nm.text, nm.text)
        no_injection("form shows typed markup escaped")
        shoot("new-with-errors")
        name.clear()
        name.send_keys("hello-portal")
        image = d.find_element(By.ID, "f-image")
        image.clear()
        image.send_keys("registry.acme.example/train:1.0")
        fz = d.find_element(By.ID, "feasibility")
        try:
            wait.until(lambda _: fz.text.startswith("fits now"))
        except TimeoutException:
            pass
        check("fits now after the fix", fz.text.startswith("fits now"), fz.text)
        est = d.find_element(By.ID, "estimate").text
        check("an estimated start is shown", est.startswith("estimated start"), est)
        check("the diagnostic is gone after the fix", d.find_element(By.CSS_SELECTOR, '.problem[data-field="image"]').text == "")
        preview = d.find_element(By.ID, "preview").text
        check("the preview is the document", "image: \"registry.acme.example/train:1.0\"" in preview and "workdir: \"code\"" in preview, preview)
        shoot("new")
        d.find_element(By.CSS_SELECTOR, 'button[value="submit"]').click()
        wait.until(EC.url_contains("submitted=1"))
        check("submitted to the workload's page", "/portal/workloads/wl-" in d.current_url, d.current_url)
    attempt("submitted to the workload's page", step_form)
    formWindow = d.current_window_handle

    # 5. The list went queued -> running -> succeeded without a reload.
    def step_live():
        d.switch_to.window(listWindow)
        try:
            WebDriverWait(d, 60).until(lambda _: any(s == ["hello-portal", "succeeded"] for s in d.execute_script("return window.__states")))
        except TimeoutException:
            pass
        states = [s[1] for s in d.execute_script("return window.__states") if s[0] == "hello-portal"]
        checks_states = states
        order = [s for s in states if s in ("queued", "running", "succeeded")]
        check("row went queued, running, succeeded live", order == ["queued", "running", "succeeded"], "seen: %s" % checks_states)
        check("no reload", d.execute_script("return window.__marker") == "no reload")
    attempt("row went queued, running, succeeded live", step_live)

    # 6. Its logs, on its page.
    def step_logs():
        d.switch_to.window(formWindow)
        d.refresh()
        log = d.find_element(By.ID, "log")
        try:
            wait.until(lambda _: "done" in log.text)
        except TimeoutException:
            pass
        check("its log is shown", "step 1" in log.text and "done" in log.text, log.text)
        check("it ran the uploaded folder's code", "read from data/input.txt: portal input" in log.text, log.text)
        shoot("workload")
    attempt("its log is shown", step_logs)

    # 7. Escaping in a log line: a workload that printed markup.
    def step_xss_log():
        d.get(BASE + "/portal/workloads/" + cfg["xssWorkload"])
        log = d.find_element(By.ID, "log")
        try:
            wait.until(lambda _: "onerror" in log.text)
        except TimeoutException:
            pass
        check("a log line with markup is shown as text", "<script>window.__xss=2</script>" in log.text and "\"><img src=x onerror=" in log.text, log.text)
        no_injection("log shows markup escaped")
        status, _, body = http("GET", "/portal/workloads/%s/logs?attempt=1" % cfg["xssWorkload"], cookie=session_cookie())
        check("raw log is plain text", status == 200 and "<script>" in body, "%s %s" % (status, body[:200]))
    attempt("a log line with markup is shown as text", step_xss_log)

    # 8. Cancel another workload from its page.
    def step_cancel():
        d.get(BASE + "/portal/workloads/" + cfg["cancelWorkload"])
        d.find_element(By.CSS_SELECTOR, "#cancel button").click()
        def st():
            for _ in range(5):
                try:
                    return d.find_element(By.ID, "state").text
                except Exception:  # the page is being replaced (the cancel's redirect)
                    time.sleep(0.2)
            return ""
        try:
            WebDriverWait(d, 30).until(lambda _: st() == "cancelled")
        except TimeoutException:
            d.refresh()
        check("cancelled from its page", st() == "cancelled", st())
    attempt("cancelled from its page", step_cancel)

    # 9. Another team's workload: a 403 page.
    def step_forbidden():
        d.get(BASE + "/portal/workloads/" + cfg["otherTeamWorkload"])
        body = d.find_element(By.TAG_NAME, "main").text
        status, _, _ = http("GET", "/portal/workloads/" + cfg["otherTeamWorkload"], cookie=session_cookie())
        check("another team's workload is a 403 page", status == 403 and "403" in body and "may not see" in body, "%s %s" % (status, body[:200]))
        shoot("forbidden")
    attempt("another team's workload is a 403 page", step_forbidden)

    # 10. Queue page.
    def step_queue():
        d.get(BASE + "/portal/queue")
        check("queue shows quota bars", len(d.find_elements(By.CSS_SELECTOR, "svg.bar")) > 0)
        shoot("queue")
    attempt("queue shows quota bars", step_queue)

    # 11. Forms without the CSRF token, or from another origin, are refused; nothing is cancelled.
    def step_csrf():
        cookie = session_cookie()
        target = "/portal/workloads/%s/cancel" % cfg["keepWorkload"]
        s1, _, _ = http("POST", target, cookie=cookie, data="", headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE})
        check("a post without the CSRF token is refused", s1 == 403, str(s1))
        d.get(BASE + "/portal/workloads")
        token = d.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
        s2, _, _ = http("POST", target, cookie=cookie, data="csrf=" + token,
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"})
        check("a post from another origin is refused", s2 == 403, str(s2))
        s3, _, _ = http("POST", target, cookie=cookie, data="csrf=" + token,
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
        check("a cross-site post without Origin is refused", s3 == 403, str(s3))
    attempt("a post without the CSRF token is refused", step_csrf)

    # 12a. A member sees no Audit page.
    def step_member_audit():
        d.get(BASE + "/portal/workloads")
        names = [a.text for a in d.find_elements(By.CSS_SELECTOR, "header nav a")]
        status, _, _ = http("GET", "/portal/audit", cookie=session_cookie())
        check("a member has no Audit page", "Audit" not in names and status == 403, "%s %s" % (names, status))
    attempt("a member has no Audit page", step_member_audit)

    # 12. Sign-out ends the session: the old cookie no longer works.
    def step_signout():
        old = session_cookie()
        d.find_element(By.CSS_SELECTOR, ".who button").click()
        wait.until(EC.url_contains("/portal/signin"))
        status, location, _ = http("GET", "/portal/workloads", cookie=old)
        check("after sign-out the old cookie is refused", status == 303 and "/portal/signin" in (location or ""), "%s %s" % (status, location))
        s2, _, _ = http("GET", "/portal/events", cookie=old)
        check("after sign-out the live stream is refused", s2 == 401, str(s2))
    attempt("after sign-out the old cookie is refused", step_signout)

    # 13. Revoking the token ends its sessions.
    def step_revoke():
        sign_in(cfg["member"]["token"])
        cookie = session_cookie()
        status, _, _ = http("GET", "/portal/workloads", cookie=cookie)
        check("a new session works", status == 200, str(status))
        req = urllib.request.Request(BASE + "/v1/tokens/" + cfg["member"]["tokenId"], method="DELETE")
        req.add_header("Authorization", "Bearer " + cfg["admin"])
        urllib.request.urlopen(req, timeout=10)
        status, location, _ = http("GET", "/portal/workloads", cookie=cookie)
        check("after the token is revoked the old cookie is refused", status == 303 and "/portal/signin" in (location or ""), "%s %s" % (status, location))
    attempt("after the token is revoked the old cookie is refused", step_revoke)

    # 14. The admin: Models, promotion through the environment's gates, Rollouts, Costs, Audit.
    def step_admin():
        sign_in(cfg["admin"])
        names = [a.text for a in d.find_elements(By.CSS_SELECTOR, "header nav a")]
        check("the admin's navigation has every page", all(n in names for n in ["Models", "Rollouts", "Costs", "Audit"]), str(names))
        d.get(BASE + "/portal/models")
        who = d.find_element(By.CSS_SELECTOR, ".who span").text
        check("the admin is shown without a team", who == "admin · admin", who)
        shoot("models")
        d.find_element(By.LINK_TEXT, cfg["model"]).click()
        Select(d.find_element(By.ID, "p-env")).select_by_value("prod")
        d.find_element(By.CSS_SELECTOR, 'button[value="check"]').click()
        gates = wait.until(EC.presence_of_element_located((By.ID, "promotion"))).text
        check("prod's gates are shown and one refuses", "owner" in gates and "failed" in gates and "nothing changed" in gates, gates)
        shoot("model")
        Select(d.find_element(By.ID, "p-env")).select_by_value("dev")
        before = d.find_element(By.ID, "promotion")
        d.find_element(By.CSS_SELECTOR, 'button[value="promote"]').click()
        wait.until(EC.staleness_of(before))
        done = wait.until(EC.presence_of_element_located((By.ID, "promotion"))).text
        aliases = d.find_element(By.TAG_NAME, "main").text
        check("promoted to dev from the page", "Promoted" in done and "dev" in aliases, done)
        d.get(BASE + "/portal/rollouts")
        check("rollouts page", "No rollouts" in d.find_element(By.TAG_NAME, "main").text)
        shoot("rollouts")
        d.get(BASE + "/portal/costs")
        teams = d.find_element(By.ID, "team-costs").text
        check("costs by team with a chart", "search" in teams and len(d.find_elements(By.CSS_SELECTOR, "#cost-chart rect")) > 0, teams)
        shoot("costs")
        d.get(BASE + "/portal/audit")
        verify = d.find_element(By.ID, "verify").text
        trail = d.find_element(By.ID, "audit").text
        check("audit verifies and lists the promotion", verify.startswith("The chain verifies") and "model-promote" in trail, verify)
        shoot("audit")
    attempt("the admin's navigation has every page", step_admin)
finally:
    d.quit()

check("every control of every page has a label", not unlabeled, json.dumps(unlabeled))
print(json.dumps({"checks": checks, "pages": pages}))
