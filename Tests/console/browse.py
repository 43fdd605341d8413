#!/usr/bin/env python3
"""Drives the console of a running `journey serve` in headless Chromium (Selenium with Debian's
chromium-driver), as a person would: signs in with the admin key through the form, opens every
page, checks what a browser can check (accessibility, contrast, layout on a phone, the Content-
Security-Policy), redelivers a failed message with its button, signs out, and takes screenshots.

It asserts nothing about the numbers: it writes what each page showed to OUT/pages.json, and the
Swift test (Tests/JourneyCLITests/ConsoleTests.swift) compares that with a simulation whose
counts it knows.

    browse.py --url http://127.0.0.1:PORT --key ADMIN_KEY --out DIR --journey NAME --profile ID [--message ID]

With --screenshots DIR the journey and profile pages are also saved there (docs/images).
"""
import argparse
import base64
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

CHECKS = r"""
function lum(c) {
  const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function parse(s) {
  const m = s.match(/rgba?\(([^)]+)\)/);
  return m ? m[1].split(',').map(x => parseFloat(x)) : null;
}
function background(el) {
  while (el) {
    const c = parse(getComputedStyle(el).backgroundColor);
    if (c && (c.length < 4 || c[3] > 0)) return c.slice(0, 3);
    el = el.parentElement;
  }
  return [255, 255, 255];
}
const lowContrast = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg')) continue;
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const st = getComputedStyle(el);
  if (st.visibility === 'hidden' || st.display === 'none') continue;
  const r = el.getBoundingClientRect();
  if (r.width <= 1 || r.height <= 1 || r.right < 0) continue;
  const fg = parse(st.color).slice(0, 3), bg = background(el);
  const a = lum(fg), b = lum(bg);
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
  const need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
  if (ratio < need) lowContrast.push(el.textContent.trim().slice(0, 40) + ' (' + ratio.toFixed(2) + ')');
}
const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name || e.id);
const unnamedButtons = [...document.querySelectorAll('button')].filter(b => !b.textContent.trim()).length;
const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => parseInt(h.tagName[1]));
let skipped = false;
for (let i = 1; i < levels.length; i++) if (levels[i] > levels[i - 1] + 1) skipped = true;
const svgs = [...document.querySelectorAll('svg')];
return {
  lang: document.documentElement.lang,
  h1: levels.filter(l => l === 1).length,
  headingsSkipLevels: skipped,
  unlabelled: unlabelled,
  unnamedButtons: unnamedButtons,
  lowContrast: lowContrast,
  svgs: svgs.length,
  svgsWithoutName: svgs.filter(s => !(s.getAttribute('role') === 'img' && s.getAttribute('aria-label'))).length,
  scripts: document.scripts.length,
  externalResources: [...document.querySelectorAll('link[href], img[src], script[src]')]
    .map(e => e.getAttribute('href') || e.getAttribute('src')).filter(u => /^(https?:)?\/\//.test(u)),
};
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--journey", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--message")
    p.add_argument("--screenshots")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                 "--window-size=1280,1000", "--force-device-scale-factor=1", "--lang=en-US"]:
        options.add_argument(flag)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    report = {"pages": {}, "console": []}

    def navigate(element, keys=None):
        """Clicks (or types into) an element and waits for the next page to have loaded: the
        old document is marked, and the wait is for a complete document without the mark
        (asking about the old page's elements races with its removal)."""
        driver.execute_script("window.__journeyOldPage = true")
        if keys is None:
            element.click()
        else:
            element.send_keys(keys)
        WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return window.__journeyOldPage === undefined && document.readyState === 'complete'"))

    def snapshot(name):
        driver.set_window_size(1280, 1000)
        page = {
            "url": driver.current_url,
            "title": driver.title,
            "text": driver.find_element(By.TAG_NAME, "body").text,
            "html": driver.page_source,
            "checks": driver.execute_script(CHECKS),
        }
        # On a phone: nothing wider than the screen but what scrolls in its own box.
        driver.set_window_size(390, 844)
        page["phoneOverflow"] = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        driver.set_window_size(1280, 1000)
        report["pages"][name] = page

    def screenshot(name):
        """The whole page at 1280 CSS pixels wide, however long."""
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        for folder in [a.out] + ([a.screenshots] if a.screenshots else []):
            with open(os.path.join(folder, name + ".png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))

    try:
        # Anyone not signed in lands on the sign-in form.
        driver.get(a.url + "/console")
        report["redirectedTo"] = driver.current_url
        snapshot("login")
        # A wrong key is refused on the form.
        driver.find_element(By.ID, "key").send_keys("not-the-key")
        navigate(driver.find_element(By.CSS_SELECTOR, "form.login button"))
        report["wrongKey"] = driver.find_element(By.TAG_NAME, "body").text
        driver.find_element(By.ID, "key").send_keys(a.key)
        navigate(driver.find_element(By.CSS_SELECTOR, "form.login button"))
        report["afterLogin"] = driver.current_url
        report["cookies"] = driver.get_cookies()
        snapshot("journeys")
        # The keyboard: the first Tab reaches the skip link.
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        report["firstTab"] = driver.switch_to.active_element.text
        navigate(driver.find_element(By.LINK_TEXT, a.journey))
        snapshot("journey")
        screenshot("journey")
        navigate(driver.find_element(By.LINK_TEXT, "Profiles"))
        navigate(driver.find_element(By.ID, "id"), a.profile + Keys.ENTER)
        snapshot("profile")
        screenshot("profile")
        driver.get(a.url + "/console/profiles?id=nobody-here")
        snapshot("missingProfile")
        navigate(driver.find_element(By.LINK_TEXT, "Deliveries"))
        snapshot("deliveries")
        if a.message:
            for form in driver.find_elements(By.CSS_SELECTOR, "article.failure form"):
                if a.message in form.get_attribute("action"):
                    navigate(form.find_element(By.TAG_NAME, "button"))
                    break
            snapshot("redelivered")
        navigate(driver.find_element(By.LINK_TEXT, "Rejects"))
        snapshot("rejects")
        navigate(driver.find_element(By.CSS_SELECTOR, "form.signout button"))
        report["afterSignOut"] = driver.current_url
        driver.get(a.url + "/console")
        report["afterSignOutVisit"] = driver.current_url
        report["console"] = [{"level": e["level"], "message": e["message"]} for e in driver.get_log("browser")]
    finally:
        with open(os.path.join(a.out, "pages.json"), "w") as f:
            json.dump(report, f, indent=1)
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
