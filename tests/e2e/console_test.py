#!/usr/bin/env python3
"""The Migration page in a real browser (headless Chromium through Selenium), against a running
coordinator. Run by tests/e2e/test_console.sh, which starts Ferry, creates the demo apps and the
users and passes:

  FERRY_UI_URL          the coordinator's address, e.g. http://127.0.0.1:18760
  FERRY_OPERATOR_TOKEN  an operator of FERRY_UI_APP only
  FERRY_VIEWER_TOKEN    a viewer
  FERRY_UI_APP          the operator's app (shop); FERRY_UI_OTHER: another app (crm)
  FERRY_UI_OUT          where the screenshots go
  FERRY_UI_WAIT         seconds to wait for the replication to reach 100 % (180)

Every check prints ok or FAIL; the exit code is 1 when one failed."""
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ['FERRY_UI_URL'].rstrip('/')
OPERATOR = os.environ['FERRY_OPERATOR_TOKEN']
VIEWER = os.environ['FERRY_VIEWER_TOKEN']
APP = os.environ.get('FERRY_UI_APP', 'shop')
OTHER = os.environ.get('FERRY_UI_OTHER', 'crm')
OUT = os.environ.get('FERRY_UI_OUT', '.')
WAIT = int(os.environ.get('FERRY_UI_WAIT', '180'))
MIG = APP + '.production'
OTHER_MIG = OTHER + '.production'
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

failures = []


def check(what, ok, detail=''):
    if ok:
        print('  ok    ' + what, flush=True)
    else:
        print('  FAIL  ' + what + (': ' + str(detail) if detail != '' else ''), flush=True)
        failures.append(what)
    return ok


class Fatal(Exception):
    pass


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless=new', '--no-sandbox', '--window-size=1366,768', '--disable-gpu',
              '--disable-dev-shm-usage', '--force-device-scale-factor=1', '--lang=en-US'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)


def shot(d, name):
    path = os.path.join(OUT, name)
    d.save_screenshot(path)
    print('  shot  ' + path, flush=True)


def js_text(d, testid):
    """The text of the element with this data-testid, or None (read by script: no stale elements)."""
    return d.execute_script(
        'var e = document.querySelector(\'[data-testid="\' + arguments[0] + \'"]\');'
        'return e && e.offsetParent !== null ? e.textContent.trim() : null;', testid)


def displayed_testids(d, prefix):
    return d.execute_script(
        'return Array.prototype.filter.call(document.querySelectorAll(\'[data-testid^="\' + arguments[0] + \'"]\'),'
        ' function (e) { return e.offsetParent !== null; }).map(function (e) { return e.dataset.testid; });',
        prefix)


def wait_for(d, what, fn, secs=20):
    try:
        return WebDriverWait(d, secs, poll_frequency=0.25,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda _: fn())
    except TimeoutException:
        raise Fatal('timed out after %ss waiting for %s' % (secs, what))


def click(d, testid, secs=10):
    end = time.time() + secs
    while True:
        try:
            e = d.find_element(By.CSS_SELECTOR, '[data-testid="%s"]' % testid)
            e.click()
            return
        except (StaleElementReferenceException, WebDriverException):
            if time.time() > end:
                raise Fatal('cannot click ' + testid)
            time.sleep(0.2)


def page_fetch(d, path, method='POST', csrf=None, body='{}'):
    """A request made from the page's own context (what a forged script in the page could do)."""
    return d.execute_async_script('''
        var done = arguments[arguments.length - 1];
        var h = {'Content-Type': 'application/json'};
        if (arguments[2]) h['X-CSRF-Token'] = arguments[2];
        var o = {method: arguments[1], credentials: 'same-origin', headers: h};
        if (arguments[1] !== 'GET') o.body = arguments[3];
        fetch(arguments[0], o).then(function (r) { return r.text().then(function (t) {
            done({status: r.status, body: t}); }); }, function (e) { done({status: 0, body: String(e)}); });
    ''', path, method, csrf, body)


def err_code(res):
    try:
        return json.loads(res['body'])['error']['code']
    except (ValueError, KeyError, TypeError):
        return None


def login(d, token, user):
    d.get(URL + '/')
    wait_for(d, 'the login form', lambda: js_text(d, 'login') is not None)
    field = d.find_element(By.ID, 'token')
    check('the token field has a label', d.execute_script(
        'return document.querySelector(\'label[for="token"]\') !== null'))
    return field


def submit_login(d, field, token, user):
    field.clear()
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    wait_for(d, 'logged in as ' + user, lambda: js_text(d, 'whoami') == user)


def console_errors(d, who):
    try:
        logs = d.get_log('browser')
    except WebDriverException as e:
        check(who + ': the browser log can be read', False, e)
        return
    csp = [e['message'] for e in logs if 'Content Security Policy' in e['message']
           or 'Refused to' in e['message']]
    check(who + ': no CSP violation in the browser console', not csp, csp)
    uncaught = [e['message'] for e in logs if 'Uncaught' in e['message']]
    check(who + ': no uncaught script error in the browser console', not uncaught, uncaught)


def headers_check():
    print('== the page\'s answers (urllib)', flush=True)
    with urllib.request.urlopen(URL + '/', timeout=10) as r:
        hd = r.headers
        body = r.read().decode()
        check('GET / answers 200 with HTML', r.status == 200 and 'text/html' in hd.get('Content-Type', ''),
              (r.status, hd.get('Content-Type')))
    check('GET / has the Content-Security-Policy', hd.get('Content-Security-Policy') == CSP,
          hd.get('Content-Security-Policy'))
    check('GET / has X-Frame-Options: DENY', hd.get('X-Frame-Options') == 'DENY', hd.get('X-Frame-Options'))
    check('GET / has X-Content-Type-Options: nosniff', hd.get('X-Content-Type-Options') == 'nosniff',
          hd.get('X-Content-Type-Options'))
    check('the page has no inline script or style', '<script>' not in body and 'style=' not in body
          and '<style' not in body and ' onclick=' not in body)
    for path, ctype in (('/ui/app.js', 'javascript'), ('/ui/app.css', 'text/css')):
        with urllib.request.urlopen(URL + path, timeout=10) as r:
            check('GET %s answers 200 as %s' % (path, ctype),
                  r.status == 200 and ctype in r.headers.get('Content-Type', ''), r.headers.get('Content-Type'))


def session_with_cookie(cookie):
    req = urllib.request.Request(URL + '/v1/session', headers={'Cookie': 'ferry_session=' + cookie})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def operator_case():
    print('== operator of %s' % APP, flush=True)
    d = browser()
    try:
        field = login(d, OPERATOR, 'ops-shop')
        shot(d, '01-login.png')
        submit_login(d, field, OPERATOR, 'ops-shop')
        check('the page says the role', 'operator' in (js_text(d, 'role') or ''), js_text(d, 'role'))

        cookies = {c['name']: c for c in d.get_cookies()}
        c = cookies.get('ferry_session')
        check('the session cookie is set', c is not None, list(cookies))
        if c:
            check('the session cookie is HttpOnly', c.get('httpOnly') is True, c)
            check('the session cookie is SameSite=Strict', c.get('sameSite') == 'Strict', c)
        check('the page\'s script cannot read the cookie (document.cookie is empty)',
              d.execute_script('return document.cookie') == '', d.execute_script('return document.cookie'))

        wait_for(d, 'both apps in the list', lambda: js_text(d, 'row-' + MIG) is not None
                 and js_text(d, 'row-' + OTHER_MIG) is not None)
        check('the list shows %s and %s' % (APP, OTHER), True)
        check('the summary counts the migrations', 'migrations' in (js_text(d, 'count-all') or ''),
              js_text(d, 'count-all'))
        shot(d, '02-list.png')

        # crm: not the operator's app
        click(d, 'row-' + OTHER_MIG)
        wait_for(d, 'the detail of ' + OTHER_MIG, lambda: js_text(d, 'detail-title') == OTHER_MIG
                 and js_text(d, 'actions') is not None)
        check('%s (not its app) shows no command button' % OTHER_MIG,
              displayed_testids(d, 'action-') == [], displayed_testids(d, 'action-'))

        # shop, opened with the keyboard
        d.execute_script('document.querySelector(\'[data-testid="row-%s"]\').focus()' % MIG)
        d.switch_to.active_element.send_keys(Keys.ENTER)
        wait_for(d, 'the detail of ' + MIG + ' (opened with Enter)',
                 lambda: js_text(d, 'detail-title') == MIG and js_text(d, 'actions') is not None)
        check('a row opens with Enter', True)
        acts = displayed_testids(d, 'action-')
        check('%s shows Replicate' % MIG, 'action-replicate' in acts, acts)
        check('the button says "Replicate data and files"',
              js_text(d, 'action-replicate') == 'Replicate data and files', js_text(d, 'action-replicate'))
        check('%s is new before' % MIG, js_text(d, 'state') == 'new', js_text(d, 'state'))

        d.execute_script('window.__ferryNoReload = 42')
        click(d, 'action-replicate')
        t0 = time.time()
        seen_states, seen_phases = set(), set()
        saw_step = saw_between = False
        progress_shot = docs_shot = False
        docs_rank = -1
        done = False
        while time.time() - t0 < WAIT:
            st = js_text(d, 'state')
            ph = js_text(d, 'phase')
            pct = js_text(d, 'files-percent') or ''
            row_state = js_text(d, 'state-' + MIG)
            row_pct = js_text(d, 'files-' + MIG) or ''
            steps = displayed_testids(d, 'step-')
            alert = js_text(d, 'alert')
            if alert:
                raise Fatal('the page shows an error after Replicate: ' + alert)
            seen_states.add(st)
            seen_phases.add(ph)
            try:
                p = float(pct.split()[0])
            except (ValueError, IndexError):
                p = None
            between = p is not None and 0 < p < 100
            saw_step = saw_step or bool(steps)
            saw_between = saw_between or between
            if not progress_shot and (between or steps):
                shot(d, '03-progress.png')
                progress_shot = True
            # console.png, for the docs: the list and this migration under way. The best moment
            # is a file pass part done; until one is seen, the latest moment a step ran (kept).
            if not docs_shot and steps:
                bar = d.execute_script(
                    'return document.querySelector(\'[data-testid="active-steps"] progress[max]\') !== null')
                if between or bar or docs_rank < 1:
                    d.save_screenshot(os.path.join(OUT, 'console.png'))
                    docs_rank = 2 if between else 1 if bar else 0
                    docs_shot = between
            if (st == 'replicating' and pct == '100 %' and row_state == 'replicating'
                    and row_pct == '100 %' and ph in ('pause', 'file_sync')):
                done = True
                break
            if st in ('failed', 'stopped', 'rolled_back'):
                break
            time.sleep(0.4)
        waited = int(time.time() - t0)
        check('the page was not reloaded', d.execute_script('return window.__ferryNoReload') == 42)
        check('the state changed to replicating on the page', 'replicating' in seen_states, seen_states)
        check('the page showed the work (an active step or a percent between 0 and 100)',
              saw_step or saw_between, {'phases': seen_phases})
        check('files 100 %% and replicating, in the detail and the row (%ss)' % waited, done,
              {'state': js_text(d, 'state'), 'phase': js_text(d, 'phase'),
               'percent': js_text(d, 'files-percent'), 'row': js_text(d, 'files-' + MIG),
               'error': js_text(d, 'error-message')})
        if docs_rank < 0:
            print('  note  no step seen running: console.png shows the end')
            shot(d, 'console.png')
        else:
            print('  shot  %s (%s)' % (os.path.join(OUT, 'console.png'), ['a step running', 'a step with its progress', 'files part copied'][docs_rank]))
        shot(d, '04-after.png')
        acts = displayed_testids(d, 'action-')
        check('replicating: Stop replication and Interrupt are offered', 'action-stop' in acts
              and 'action-interrupt' in acts, acts)

        # the dialog of Interrupt, cancelled
        click(d, 'action-interrupt')
        wait_for(d, 'the Interrupt dialog', lambda: d.execute_script('return document.getElementById("confirm").open'))
        check('Interrupt asks first (a dialog that says the data may be inconsistent)',
              'inconsistent' in (d.find_element(By.ID, 'confirm').text or ''))
        shot(d, '05-confirm.png')
        click(d, 'confirm-cancel')
        wait_for(d, 'the dialog to close', lambda: not d.execute_script('return document.getElementById("confirm").open'))
        time.sleep(2.5)
        check('cancelled: still replicating', js_text(d, 'state') == 'replicating', js_text(d, 'state'))

        # forged commands from the page's context
        res = page_fetch(d, '/v1/apps/%s/stop' % APP)
        check('operator: a command without X-CSRF-Token is 403 csrf',
              res['status'] == 403 and err_code(res) == 'csrf', res)
        sess = page_fetch(d, '/v1/session', method='GET')
        csrf = json.loads(sess['body']).get('csrf') if sess['status'] == 200 else None
        check('GET /v1/session gives the page its CSRF token', bool(csrf), sess)
        res = page_fetch(d, '/v1/apps/%s/stop' % OTHER, csrf=csrf, body=json.dumps({'env': 'production'}))
        check('operator: a command on %s (not its app) is 403 forbidden' % OTHER,
              res['status'] == 403 and err_code(res) == 'forbidden', res)
        time.sleep(2.5)
        check('%s still replicating after the forged requests' % MIG,
              js_text(d, 'state') == 'replicating', js_text(d, 'state'))

        console_errors(d, 'operator')

        # logout: back to the form, and the old cookie is dead
        old = c['value'] if c else ''
        click(d, 'logout')
        wait_for(d, 'the login form after logout', lambda: js_text(d, 'login') is not None)
        check('logout returns to the login form', js_text(d, 'whoami') is None)
        check('after logout the old cookie no longer works (GET /v1/session: 401)',
              session_with_cookie(old) == 401, session_with_cookie(old))
        res = page_fetch(d, '/v1/migrations', method='GET')
        check('after logout the page gets 401', res['status'] == 401, res['status'])
    except Fatal as e:
        check('operator case', False, e)
        shot(d, 'fail-operator.png')
    finally:
        d.quit()


def viewer_case():
    print('== viewer', flush=True)
    d = browser()
    try:
        field = login(d, VIEWER, 'watcher')
        submit_login(d, field, VIEWER, 'watcher')
        check('the page says viewer', 'viewer' in (js_text(d, 'role') or ''), js_text(d, 'role'))
        wait_for(d, 'the list', lambda: js_text(d, 'row-' + MIG) is not None
                 and js_text(d, 'row-' + OTHER_MIG) is not None)
        check('viewer: no bulk command in the list', displayed_testids(d, 'bulk-') in ([], ['bulk-results']),
              displayed_testids(d, 'bulk-'))
        for mig in (MIG, OTHER_MIG):
            click(d, 'row-' + mig)
            wait_for(d, 'the detail of ' + mig, lambda: js_text(d, 'detail-title') == mig
                     and js_text(d, 'actions') is not None)
            check('viewer: %s shows no command button' % mig, displayed_testids(d, 'action-') == [],
                  displayed_testids(d, 'action-'))
        shot(d, '06-viewer.png')
        res = page_fetch(d, '/v1/apps/%s/stop' % APP)
        check('viewer: a command without X-CSRF-Token is 403', res['status'] == 403, res)
        sess = page_fetch(d, '/v1/session', method='GET')
        csrf = json.loads(sess['body']).get('csrf') if sess['status'] == 200 else None
        res = page_fetch(d, '/v1/apps/%s/stop' % APP, csrf=csrf)
        check('viewer: with the right CSRF token it is 403 forbidden',
              res['status'] == 403 and err_code(res) == 'forbidden', res)
        console_errors(d, 'viewer')
        click(d, 'logout')
        wait_for(d, 'the login form after logout', lambda: js_text(d, 'login') is not None)
    except Fatal as e:
        check('viewer case', False, e)
        shot(d, 'fail-viewer.png')
    finally:
        d.quit()


def main():
    os.makedirs(OUT, exist_ok=True)
    try:
        headers_check()
        operator_case()
        viewer_case()
    except Exception:  # a bug of the test or an unexpected answer: say where
        traceback.print_exc()
        failures.append('unexpected exception')
    print('console: screenshots in ' + os.path.abspath(OUT))
    if failures:
        print('console: %d failure(s): %s' % (len(failures), '; '.join(failures)))
        return 1
    print('console: all checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
