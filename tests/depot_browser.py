#!/usr/bin/env python3
"""The web depot in a real browser: headless Chromium driven by Selenium, against
`keyport serve` (SQLite, mails written as .eml files), with axe-core run on every page.

Walks:
  1. register -> mail (.eml) -> confirm -> log in -> register a ticket -> see the license ->
     offline activation round trip with keyport-client's files (request in, certificate out,
     receipt in) -> recover from a lost machine after reading its cost -> log out;
  2. forgot password -> mail -> set a new one -> log in with it;
  3. in German with a theme (logo, colour, product name, footer link, a text override): the
     words, the colour and the logo as a person sees them, a refusal in the API's German words;
  4. without a browser: a form without its CSRF token is refused and changes nothing; the
     cookies' flags (HttpOnly, SameSite=Lax, Secure behind an https public URL); the security
     headers.

Screenshots of every page go to target/depot-screenshots/. Usage:
  depot_browser.py KEYPORT_BIN KEYPORT_CLIENT_BIN
"""

import email
import email.policy
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

BIN, CLIENT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ROOT = Path(tempfile.mkdtemp(prefix="keyport-depot-"))
SHOTS = Path("target/depot-screenshots").resolve()
AXE = Path("tests/depot/node_modules/axe-core/axe.min.js").read_text()
PASSWORD = "a long depot password 1"
VIOLATIONS = []


def expect(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        raise SystemExit(1)
    print(f"ok: {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`keyport serve` on a data folder of its own, with an optional theme."""

    def __init__(self, name, theme=None, public_url=None):
        self.dir = ROOT / name
        self.dir.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        lines = [f'data_dir = "{self.dir}"', f'listen = "127.0.0.1:{self.port}"']
        if public_url:
            lines.append(f'public_url = "{public_url}"')
        lines.append("[http]\nrequests_per_address = 1000")
        if theme:
            lines.append(f'[depot]\ntheme = "{theme}"')
        (self.dir / "keyport.toml").write_text("\n".join(lines) + "\n")
        self.log = open(self.dir / "server.log", "w")
        self.process = subprocess.Popen([BIN, "--config", str(self.dir / "keyport.toml"), "serve"],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{name} did not start; see {self.dir / 'server.log'}")
        self.admin = subprocess.run([BIN, "admin", "create-api-key", "--role", "admin", "--name", "depot",
                                     "--data-dir", str(self.dir)], check=True, capture_output=True,
                                    text=True).stdout.strip()

    def call(self, method, path, body=None, key=None, headers=None, raw=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        if key:
            sent["Authorization"] = f"Bearer {key}"
        connection.request(method, path, data, sent)
        response = connection.getresponse()
        text = response.read().decode()
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return response.status, parsed, response.getheaders()

    def api(self, method, path, body=None, headers=None):
        return self.call(method, f"/api/v1{path}", body, self.admin, headers)

    def seed_catalog(self):
        rules = {"name": "depot", "seats": 1, "deactivation_allowed": True, "offline_allowed": True,
                 "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
                 "credit_cap": 1, "emergency_days": 0, "emergency_per_year": 0, "checkin_interval_days": None,
                 "checkin_grace_days": 0}
        expect(self.api("POST", "/products", {"code": "cad", "name": "CAD Pro"})[0] == 201, "a product")
        expect(self.api("POST", "/rule-sets", rules)[0] == 201, "a rule set: 1 seat, offline, 1 credit")
        item = {"sku": "CAD-5", "product_code": "cad", "name": "CAD Pro 5", "license_model": "perpetual",
                "version_min": 5, "rule_set": "depot"}
        expect(self.api("POST", "/items", item)[0] == 201, "an item")
        demo = {"sku": "CAD-DEMO", "product_code": "cad", "name": "CAD Pro demo", "license_model": "demo",
                "duration_days": 30, "version_min": 5, "rule_set": "depot", "self_service": True}
        expect(self.api("POST", "/items", demo)[0] == 201, "a demo anyone may try")

    def ticket(self, number):
        status, order, _ = self.api("POST", "/orders", {"shop": "web", "external_order_number": number,
                                                      "lines": [{"line_number": 1, "sku": "CAD-5", "quantity": 1}]})
        expect(status == 201, f"order {number} gives a ticket")
        return order["order"]["ticket_code"]

    def mail_link(self, to, path):
        """The link to `path` in the newest .eml to `to` (quoted-printable decoded)."""
        deadline = time.time() + 30
        while time.time() < deadline:
            for eml in sorted((self.dir / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
                message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
                if to not in str(message["To"]):
                    continue
                body = message.get_body(preferencelist=("plain",)).get_content()
                found = re.search(r"https?://\S*" + re.escape(path) + r"\?token=[0-9a-f]+", body)
                if found:
                    eml.unlink()
                    return found.group(0)
            time.sleep(0.2)
        raise SystemExit(f"no mail to {to} with a {path} link in {self.dir / 'mail'}")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def browser(lang, downloads):
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                f"--lang={lang}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "intl.accept_languages": lang,
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.implicitly_wait(5)
    return driver


def look(driver, name):
    """A screenshot for a person, and axe-core's serious and critical findings."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
    expect(isinstance(result, list), f"axe ran on {name}")
    bad = [v for v in result if v.get("impact") in ("serious", "critical")]
    for v in bad:
        VIOLATIONS.append((name, v["id"], v["impact"], [n["html"][:120] for n in v["nodes"][:3]]))
    expect(not bad, f"{name}: no serious or critical accessibility violations {[(v['id'], v['impact']) for v in bad]}")


def fill(driver, fields):
    for name, value in fields.items():
        element = driver.find_element(By.NAME, name) if "#" not in name else driver.find_element(By.CSS_SELECTOR, name)
        element.clear()
        element.send_keys(value)


def submit(driver, form_action, navigates=True):
    """Presses a form's button; waits for the next page unless the answer is a download."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"form[action='{form_action}'] button[type=submit]").click()
    if navigates:
        gone(driver, page)


def gone(driver, page):
    """Waits until the page an element belongs to has been replaced by the next one."""
    def stale(_):
        try:
            page.is_enabled()
            return False
        except WebDriverException:
            return True
    WebDriverWait(driver, 15).until(stale)


def click(driver, element):
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    gone(driver, page)


def at(driver, suffix, what):
    """Waits for the browser to arrive at a page whose URL ends with `suffix`."""
    deadline = time.time() + 10
    while time.time() < deadline and not driver.current_url.split("?")[0].endswith(suffix):
        time.sleep(0.05)
    expect(driver.current_url.split("?")[0].endswith(suffix), f"{what} ({driver.current_url})")


def text(driver):
    return driver.find_element(By.TAG_NAME, "main").text


def wait_file(folder, before, what):
    """The certificate file Chromium saved (it writes under a temporary name first)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        files = [p for p in folder.glob("certificate-*.txt") if p.name not in before]
        if files:
            time.sleep(0.2)
            return files[0]
        time.sleep(0.1)
    raise SystemExit(f"no {what} was downloaded into {folder}")


def client(home, *args):
    run = subprocess.run([CLIENT, "--home", str(home), "--product", "cad", *args], capture_output=True, text=True)
    expect(run.returncode == 0, f"keyport-client {args[0]} ({run.stderr.strip()[:200]})")


def register_and_log_in(driver, server, name, address, shot_prefix):
    driver.get(server.base + "/")
    at(driver, "/depot/login", "the root leads to the depot's login")
    look(driver, f"{shot_prefix}01-login")
    click(driver, driver.find_element(By.CSS_SELECTOR, "a[href='/depot/register']"))
    look(driver, f"{shot_prefix}02-register")
    fill(driver, {"name": name, "email": address, "password": PASSWORD})
    submit(driver, "/depot/register")
    look(driver, f"{shot_prefix}03-check-mail")
    link = server.mail_link(address, "/depot/verify-email")
    driver.get(link.replace(urllib.parse.urlsplit(link).netloc, f"127.0.0.1:{server.port}"))
    look(driver, f"{shot_prefix}04-verify")
    submit(driver, "/depot/verify-email")
    look(driver, f"{shot_prefix}05-verified")
    driver.get(server.base + "/depot/login")
    fill(driver, {"email": address, "password": PASSWORD})
    submit(driver, "/depot/login")
    at(driver, "/depot/licenses", "logged in, the license overview opens")


def walk_english(server):
    downloads = ROOT / "downloads-en"
    downloads.mkdir()
    driver = browser("en", downloads)
    try:
        register_and_log_in(driver, server, "Nina Buyer", "nina@example.com", "en-")
        offer = {"kind": "cross_sell", "rule": {"language": ["en"]}, "title_en": "CAD Cloud", "title_de": "CAD Cloud",
                 "text_en": "Your drawings everywhere.", "link": "https://shop.example.com/cloud", "coupon_code": "CLOUD10"}
        expect(server.api("POST", "/offers", offer)[0] == 201, "an offer for English speakers")
        driver.refresh()
        expect("CAD Cloud" in text(driver) and "CLOUD10" in text(driver), "the offer is on the overview")
        look(driver, "en-06-licenses-empty")
        code = server.ticket("EN-1")
        fill(driver, {"ticket_code": code.lower().replace("-", " ")})
        submit(driver, "/depot/tickets")
        expect("The ticket is registered" in text(driver), f"the ticket is registered (typed forgivingly): {text(driver)[:300]}")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.licenses tbody tr")
        expect(len(rows) == 1 and "CAD Pro 5" in rows[0].text and "not activated" in rows[0].text
               and "0 of 1" in rows[0].text, f"the license is listed: {rows[0].text if rows else None}")
        look(driver, "en-07-licenses")
        license_id = rows[0].get_attribute("data-license")
        click(driver, rows[0].find_element(By.TAG_NAME, "a"))
        look(driver, "en-08-license")

        # Offline activation: request file in, certificate out, receipt in.
        machine = ROOT / "machine-a"
        client(machine, "request", "--license", license_id, "--out", str(ROOT / "request-a.txt"))
        driver.find_element(By.ID, "request_file").send_keys(str(ROOT / "request-a.txt"))
        before = set(p.name for p in downloads.iterdir())
        submit(driver, f"/depot/licenses/{license_id}/offline-activation", navigates=False)
        certificate = wait_file(downloads, before, "certificate")
        expect("BEGIN" in certificate.read_text(), "the certificate file is downloaded")
        client(machine, "import", "--certificate", str(certificate), "--out", str(ROOT / "receipt-a.txt"),
               "--server", server.base)
        driver.get(f"{server.base}/depot/licenses/{license_id}")
        driver.find_element(By.ID, "receipt_file").send_keys(str(ROOT / "receipt-a.txt"))
        submit(driver, "/depot/receipts")
        expect("The activation is complete." in text(driver), "the receipt completes the activation")
        expect("1 of 1" in text(driver), "the seat is in use")
        look(driver, "en-09-license-active")

        # Recovery: the cost is stated before the confirmation.
        click(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "Machine lost?"))
        cost = driver.find_element(By.ID, "cost").text
        expect("This costs 1 re-activation credit. You have 1 now and 0 afterwards." in cost,
               f"the recovery page states its cost: {cost}")
        look(driver, "en-10-recover")
        client(ROOT / "machine-b", "request", "--license", license_id, "--out", str(ROOT / "request-b.txt"))
        driver.find_element(By.ID, "request_file").send_keys(str(ROOT / "request-b.txt"))
        driver.find_element(By.ID, "confirm").click()
        before = set(p.name for p in downloads.iterdir())
        submit(driver, f"/depot/licenses/{license_id}/activations/"
                       f"{driver.current_url.split('/activations/')[1].split('/')[0]}/recovery", navigates=False)
        wait_file(downloads, before, "certificate of the new machine")
        driver.get(f"{server.base}/depot/licenses/{license_id}")
        facts = driver.find_element(By.CSS_SELECTOR, "dl.facts").text
        expect("1 of 1" in facts and re.search(r"Re-activation credits\s*0", facts),
               f"the seat moved and the credit is spent: {facts}")
        machines = driver.find_elements(By.CSS_SELECTOR, "tr[data-activation]")
        expect(len(machines) == 1, "one machine holds the license now")

        # Downloads for this browser's operating system (Chromium here runs on Linux).
        status, release, _ = server.api("POST", "/releases", {"product": "cad", "version": "5.0.1", "notes_en": "Faster."})
        expect(status == 201, "a release of CAD Pro 5")
        for os_name, file_name in (("linux", "cad-5.0.1.tar.gz"), ("windows", "cad-5.0.1-setup.exe")):
            data = f"{os_name} installer".encode()
            query = urllib.parse.urlencode({"os": os_name, "arch": "x86_64", "file_name": file_name,
                                            "sha256": __import__("hashlib").sha256(data).hexdigest()})
            status = server.call("POST", f"/api/v1/releases/{release['id']}/artifacts?{query}", key=server.admin,
                                 headers={"Content-Type": "application/octet-stream"}, raw=data)[0]
            expect(status == 201, f"its {os_name} file")
        expect(server.api("POST", f"/releases/{release['id']}/publish", {})[0] == 200, "published")
        click(driver, driver.find_element(By.LINK_TEXT, "Downloads"))
        expect("cad-5.0.1.tar.gz" in text(driver) and "setup.exe" not in text(driver),
               "the downloads for this browser's operating system")
        look(driver, "en-downloads")

        # A demo of the product, from the "Try a product" page.
        click(driver, driver.find_element(By.LINK_TEXT, "Try a product"))
        look(driver, "en-demos")
        submit(driver, "/depot/demos")
        expect("Your demo license is ready" in text(driver), "a demo license is given")

        # The profile: newsletter consent by double opt-in.
        driver.get(server.base + "/depot/profile")
        look(driver, "en-profile")
        submit(driver, "/depot/profile/newsletter")
        expect(driver.find_element(By.ID, "newsletter-state").get_attribute("data-state") == "pending",
               "the newsletter is asked for (a confirmation mail is on its way)")
        link = server.mail_link("nina@example.com", "/depot/newsletter/confirm")
        driver.get(link.replace(urllib.parse.urlsplit(link).netloc, f"127.0.0.1:{server.port}"))
        look(driver, "en-newsletter-confirm")
        submit(driver, "/depot/newsletter/confirm")
        expect("you are subscribed" in text(driver), "the newsletter is confirmed from the mail's link")
        driver.get(server.base + "/depot/no-such-page")
        look(driver, "en-404")

        # Cookies as the browser keeps them.
        cookies = {c["name"]: c for c in driver.get_cookies()}
        expect(cookies["kp_depot"]["httpOnly"] and cookies["kp_depot"]["sameSite"] == "Lax",
               "the session cookie is HttpOnly and SameSite=Lax")
        submit(driver, "/depot/logout")
        expect("You are logged out." in text(driver), "logged out")
        driver.get(server.base + "/depot/licenses")
        at(driver, "/depot/login", "after logout the licenses ask for a login")
        look(driver, "en-11-logged-out")
    finally:
        driver.quit()


def walk_reset(server):
    driver = browser("en", ROOT)
    try:
        driver.get(server.base + "/depot/login")
        click(driver, driver.find_element(By.CSS_SELECTOR, "a[href='/depot/forgot-password']"))
        look(driver, "en-12-forgot")
        fill(driver, {"email": "nina@example.com"})
        submit(driver, "/depot/forgot-password")
        expect("a mail with a link" in text(driver), "the reset is asked for")
        link = server.mail_link("nina@example.com", "/depot/reset-password")
        driver.get(link.replace(urllib.parse.urlsplit(link).netloc, f"127.0.0.1:{server.port}"))
        look(driver, "en-13-reset")
        fill(driver, {"new_password": "another long password 2"})
        submit(driver, "/depot/reset-password")
        expect("Your password is set." in text(driver), "the new password is set")
        driver.get(server.base + "/depot/login")
        fill(driver, {"email": "nina@example.com", "password": PASSWORD})
        submit(driver, "/depot/login")
        expect("/depot/login" in driver.current_url and driver.find_elements(By.CSS_SELECTOR, ".error"),
               "the old password no longer works")
        fill(driver, {"email": "nina@example.com", "password": "another long password 2"})
        submit(driver, "/depot/login")
        at(driver, "/depot/licenses", "the new password logs in")
    finally:
        driver.quit()


def theme_folder():
    """The example theme (examples/depot-theme): what the README shows is what is tested."""
    return Path("examples/depot-theme").resolve()


def walk_german(server):
    driver = browser("de", ROOT)
    try:
        register_and_log_in(driver, server, "Jonas Käufer", "jonas@example.com", "de-")
        expect("Ihre ACME-Lizenzen" in text(driver), "German words, with the theme's override")
        header = driver.find_element(By.CSS_SELECTOR, "header.top")
        expect(header.value_of_css_property("background-color") in ("rgba(139, 0, 0, 1)", "rgb(139, 0, 0)"),
               "the theme's colour is the header's")
        logo = driver.find_element(By.CSS_SELECTOR, "img.logo")
        expect(driver.execute_script("return arguments[0].naturalWidth", logo) > 0, "the logo is shown")
        expect("ACME CAD" in driver.title and "Impressum" in driver.find_element(By.TAG_NAME, "footer").text,
               "the product name and the footer link")
        fill(driver, {"ticket_code": server.ticket("DE-1")})
        submit(driver, "/depot/tickets")
        expect("Das Ticket ist registriert" in text(driver) and "nicht aktiviert" in text(driver),
               "a ticket registered, in German")
        look(driver, "de-06-lizenzen")
        # On a phone: the same page at 390 x 844 (no sideways scrolling of the page itself).
        driver.set_window_size(390, 844)
        look(driver, "de-06-lizenzen-phone")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        expect(width <= 390, f"the page fits a phone's width ({width} px)")
        driver.set_window_size(1280, 900)
        if os.environ.get("KEYPORT_DEPOT_DOCS"):
            shutil.copy(SHOTS / "de-06-lizenzen.png", "docs/depot-theme.de.png")
        fill(driver, {"ticket_code": "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"})
        submit(driver, "/depot/tickets")
        shown = driver.find_element(By.CSS_SELECTOR, ".error").text
        status, problem, _ = server.call("POST", "/api/v1/auth/ticket-login", {"ticket_code": "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"},
                                         headers={"Accept-Language": "de"})
        expect(status == 422 and shown == problem["detail"], f"a refusal shows the API's German message: {shown}")
        look(driver, "de-07-fehler")
        click(driver, driver.find_element(By.LINK_TEXT, "English"))
        expect("Your ACME licenses" in text(driver), "the switch shows English (with the theme's English words)")
    finally:
        driver.quit()


def without_browser(server, https_server):
    status, body, headers = server.call("GET", "/depot/login")
    h = {k.lower(): v for k, v in headers}
    expect("script-src" not in h["content-security-policy"] and "default-src 'none'" in h["content-security-policy"]
           and "frame-ancestors 'none'" in h["content-security-policy"], "a strict Content-Security-Policy")
    expect(h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer" and h["cache-control"] == "no-store",
           "no framing, no referrer, no caching")
    csrf_cookie = [v for k, v in headers if k.lower() == "set-cookie" and v.startswith("kp_csrf=")][0]
    expect("HttpOnly" in csrf_cookie and "SameSite=Lax" in csrf_cookie and "Secure" not in csrf_cookie,
           "over http the cookies are HttpOnly, SameSite=Lax, not Secure")
    cookie = csrf_cookie.split(";")[0]
    form = urllib.parse.urlencode({"csrf": "0" * 64, "name": "Eve", "email": "eve@example.com", "password": PASSWORD})
    status, body, _ = server.call("POST", "/depot/register", raw=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    expect(status == 403 and "This form has expired" in body, "a form with a wrong CSRF token is refused")
    form = urllib.parse.urlencode({"name": "Eve", "email": "eve@example.com", "password": PASSWORD, "csrf": ""})
    status, body, _ = server.call("POST", "/depot/register", raw=form, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    expect(status == 403, "a form without the CSRF cookie is refused")
    status, found, _ = server.api("GET", "/customers?email=eve@example.com")
    expect(status == 200 and found == [], f"nothing was done for the refused forms (no account): {found}")
    status, body, headers = https_server.call("GET", "/depot/login")
    secure = [v for k, v in headers if k.lower() == "set-cookie" and v.startswith("kp_csrf=")][0]
    expect("Secure" in secure, "behind an https public URL the cookies are Secure")


def main():
    servers = []
    try:
        plain = Server("plain")
        servers.append(plain)
        plain.seed_catalog()
        themed = Server("themed", theme=theme_folder())
        servers.append(themed)
        themed.seed_catalog()
        https = Server("https", public_url="https://licenses.example.com")
        servers.append(https)
        without_browser(plain, https)
        walk_english(plain)
        walk_reset(plain)
        walk_german(themed)
        print(f"ok: the depot in Chromium; screenshots in {SHOTS}")
        return 0
    finally:
        for server in servers:
            server.stop()
        if not os.environ.get("KEYPORT_KEEP"):
            shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
