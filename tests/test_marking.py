"""`digitcourse mark`: written answers graded in the browser, saved at once, with nothing a student
wrote able to act in the grader's browser and nothing answered without the token.

Most tests drive the app with Flask's test client; `test_in_chromium_...` drives Debian's chromium
(chromium-driver, `system-packages.txt`) with selenium against the app on 127.0.0.1. A browser that
cannot start fails the test with the reason.
"""
from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from digitcourse.grading.answers import to_html
from digitcourse.grading.gradebook import Gradebook, Question
from digitcourse.grading.marking import create_app
from digitcourse.grading.report import Graded

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "secret-token"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC")
HOSTILE = ("I think so. <script>document.title = 'pwned'</script>"
           "<img src=x onerror=\"document.title = 'pwned'\"> [click](javascript:document.title='pwned')")
ANSWERS = {"ann": "The variance of the mean is $\\sigma^2 / n$.\n\n![plot](data:image/png;base64," + PNG + ")",
           "bob": "Because $$\\frac{1}{n-1}$$ removes the bias.", "cid": HOSTILE, "dan": "No idea, sorry."}


@pytest.fixture
def book(gradebook_url):
    """Four students' answers to the written question `why_ddof` (2 points) of `toy`."""
    with Gradebook(gradebook_url) as book:
        book.set_questions("toy", [Question("toy", "test_se", 2.0, True),
                                   Question("toy", "why_ddof", 2.0, False, "Why **ddof=1**? Use $n$.",
                                            "It makes $s^2$ unbiased: $E[s^2] = \\sigma^2$.")])
        for student, text in ANSWERS.items():
            book.record(student, "toy", Graded("graded", {"test_se": 2.0, "why_ddof": None}, {"why_ddof": text}),
                        notebook_hash=student, source_hash="s", profile="tiny")
        yield book


@pytest.fixture
def client(book):
    return create_app(book, token=TOKEN, grader="kim").test_client()


def points_of(book: Gradebook) -> dict[str, tuple[float | None, str]]:
    return {a.student: (a.points, a.comment) for a in book.answers("toy", "why_ddof")}


@pytest.mark.parametrize("method, path, data", [
    ("get", "/", None),
    ("get", "/q/toy/why_ddof/0", None),
    ("post", "/q/toy/why_ddof/0", {"points": "2", "comment": "sneaky", "version": "0"}),
    ("post", "/q/toy/why_ddof/0?token=wrong", {"points": "2", "token": "also-wrong", "version": "0"}),
    ("post", "/q/toy/why_ddof/rubric", {"text": "sneaky", "points": "1"}),
], ids=["index", "answer", "save", "wrong_token", "rubric"])
def test_a_request_without_the_token_is_refused_and_changes_nothing(client, book, method, path, data):
    before = points_of(book)
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 403 and b"needs the token" in response.data
    assert points_of(book) == before and book.rubric("toy", "why_ddof") == []


def test_the_index_shows_each_written_question_with_its_progress(client, book):
    book.mark("bob", "toy", "why_ddof", 1, grader="lee")
    shown = client.get(f"/?token={TOKEN}").get_data(as_text=True)
    assert "why_ddof" in shown and "graded 1 of 4" in shown and "test_se" not in shown


def test_saving_points_and_a_comment_stores_them_and_opens_the_next_answer(client, book):
    response = client.post(f"/q/toy/why_ddof/0?token={TOKEN}",
                           data={"points": "1,5", "comment": "half the argument", "version": "0"})
    assert response.status_code == 302 and response.location.endswith(f"/q/toy/why_ddof/1?token={TOKEN}")
    assert points_of(book)["ann"] == (1.5, "half the argument")
    assert book.answers("toy", "why_ddof", student="ann")[0].grader == "kim"


def test_with_only_the_ungraded_shown_the_first_and_the_next_answer_skip_the_graded(client, book):
    book.mark("ann", "toy", "why_ddof", 1, grader="lee")
    first = client.get(f"/q/toy/why_ddof/ungraded?token={TOKEN}")
    assert first.location.endswith(f"/q/toy/why_ddof/1?token={TOKEN}&only=ungraded")
    book.mark("cid", "toy", "why_ddof", 1, grader="lee")
    response = client.post(f"/q/toy/why_ddof/1?token={TOKEN}&only=ungraded", data={"points": "2", "version": "0"})
    assert response.location.endswith(f"/q/toy/why_ddof/3?token={TOKEN}&only=ungraded")


@pytest.mark.parametrize("form, message", [
    ({"points": "3", "version": "0"}, "points=3 for why_ddof is out of range: 0 to 2."),
    ({"points": "-0.5", "version": "0"}, "points=-0.5 for why_ddof is out of range: 0 to 2."),
    ({"points": "two", "version": "0"}, "points=&#39;two&#39; is not a number"),
    ({"points": "1", "version": "7"}, "ann&#39;s answer to why_ddof was saved by another grader since you opened it"),
], ids=["above_maximum", "below_zero", "not_a_number", "outdated_view"])
def test_a_refused_grade_shows_why_on_the_same_answer_and_writes_nothing(client, book, form, message):
    response = client.post(f"/q/toy/why_ddof/0?token={TOKEN}", data=form)
    assert response.status_code == 409 and message in response.get_data(as_text=True)
    assert points_of(book)["ann"] == (None, "")


def test_an_unknown_question_or_answer_is_not_found(client):
    assert client.get(f"/q/toy/why_not/0?token={TOKEN}").status_code == 404
    assert client.get(f"/q/toy/why_ddof/4?token={TOKEN}").status_code == 404


def test_a_rubric_item_is_added_then_applied_to_several_answers_at_once(client, book):
    client.post(f"/q/toy/why_ddof/rubric?token={TOKEN}", data={"text": "names the bias", "points": "2"})
    [item] = book.rubric("toy", "why_ddof")
    client.post(f"/q/toy/why_ddof/apply?token={TOKEN}", data={"item": str(item.id), "n": ["0", "1"]})
    assert points_of(book) == {"ann": (2.0, "names the bias"), "bob": (2.0, "names the bias"),
                               "cid": (None, ""), "dan": (None, "")}
    client.post(f"/q/toy/why_ddof/3?token={TOKEN}", data={"rubric": str(item.id), "version": "0"})
    assert points_of(book)["dan"] == (2.0, "names the bias")


def test_grading_anonymously_shows_numbers_instead_of_names(client):
    shown = client.get(f"/q/toy/why_ddof?token={TOKEN}&anonymous=1").get_data(as_text=True)
    assert "Student 1" in shown and "Student 4" in shown and "ann" not in shown and "bob" not in shown


def test_an_answer_is_shown_with_its_math_and_image_and_without_anything_that_acts(client):
    response = client.get(f"/q/toy/why_ddof/2?token={TOKEN}")
    shown = response.get_data(as_text=True)
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script
    assert "<script" not in shown and "onerror" not in shown and 'href="javascript' not in shown
    assert "I think so. <img> [click](javascript:document.title='pwned')" in shown  # as text
    ann = client.get(f"/q/toy/why_ddof/0?token={TOKEN}").get_data(as_text=True)
    assert "<msup><mi>σ</mi><mn>2</mn></msup>" in ann and f'src="data:image/png;base64,{PNG}"' in ann


@pytest.mark.parametrize("markdown, kept, dropped", [
    ("$x^2$", "<msup><mi>x</mi><mn>2</mn></msup>", "$"),
    ("<script>alert(1)</script>hi", "hi", "<script"),
    ('<img src="x" onerror="alert(1)">', "<img>", "onerror"),
    ("[a](javascript:alert(1))", "[a](javascript:alert(1))", "href"),
    ('<a href="javascript:alert(1)">a</a>', "<a", "javascript"),
    ("![t](https://tracker.example/t.png)", "<img", "tracker"),
    ("$\\text{<script>alert(1)</script>}$", "<mtext>", "<script"),
], ids=["math", "script", "onerror", "markdown_link", "html_link", "remote_image", "script_in_math"])
def test_a_written_answer_is_rendered_keeping_only_what_cannot_act(markdown, kept, dropped):
    html = to_html(markdown)
    assert kept in html and dropped not in html


# A real browser -------------------------------------------------------------------------------------

CHROMIUM_OPTIONS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1280,900"]


@pytest.fixture
def server(book):
    """The app on 127.0.0.1 (a free port), in a thread; its base address."""
    httpd = make_server("127.0.0.1", 0, create_app(book, token=TOKEN, grader="kim"), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def browser(tmp_path):
    """Debian's chromium, headless, with a fresh profile, driven through its chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for option in [*CHROMIUM_OPTIONS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(option)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.mark.needs("browser")
def test_in_chromium_three_answers_graded_from_the_keyboard_are_there_after_a_reload(server, browser, book,
                                                                                     tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    def focused_points(driver):
        """The points field once it has the focus on a loaded page (no mouse needed), else False."""
        element = driver.switch_to.active_element
        return element if element.get_attribute("id") == "points" else False

    wait = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    browser.get(f"{server}/q/toy/why_ddof/0?token={TOKEN}")
    for points, comment in (("2", "complete"), ("1.5", "the bias, not why"), ("0", "a script is no answer")):
        field = wait.until(focused_points, "the points field never had the focus")
        field.send_keys(points, Keys.TAB)
        browser.switch_to.active_element.send_keys(comment, Keys.ENTER)
        wait.until(staleness_of(field), "Enter did not save and move on to the next answer")
    browser.save_screenshot(str(tmp_path / "marking.png"))
    assert browser.find_element(By.TAG_NAME, "header").text.endswith("graded 3 of 4")
    browser.get(f"{server}/q/toy/why_ddof/1?token={TOKEN}")
    browser.refresh()
    assert browser.find_element(By.ID, "points").get_attribute("value") == "1.5"
    assert browser.find_element(By.ID, "comment").get_attribute("value") == "the bias, not why"
    assert points_of(book) == {"ann": (2.0, "complete"), "bob": (1.5, "the bias, not why"),
                               "cid": (0.0, "a script is no answer"), "dan": (None, "")}


@pytest.mark.needs("browser")
def test_in_chromium_an_answer_with_a_script_and_an_onerror_image_runs_nothing(server, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/q/toy/why_ddof/2?token={TOKEN}")
    answer = browser.find_element(By.ID, "answer")
    assert "I think so." in answer.text
    assert browser.title == "cid: toy / why_ddof"  # neither the script nor the onerror retitled it
    assert browser.execute_script("return document.querySelectorAll('#answer script, [onerror]').length") == 0
    assert [a.get_attribute("href") for a in answer.find_elements(By.TAG_NAME, "a")] == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    browser.get(f"{server}/q/toy/why_ddof/0?token={TOKEN}")
    shown = browser.find_element(By.ID, "answer")
    browser.save_screenshot(str(tmp_path / "answer.png"))
    image = shown.find_element(By.TAG_NAME, "img")
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 8  # the embedded image shows
    assert shown.find_elements(By.TAG_NAME, "math")  # MathML, drawn by the browser itself


@pytest.mark.needs("browser")
def test_in_chromium_and_over_http_a_request_without_the_token_is_refused(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/q/toy/why_ddof/0")
    assert "needs the token" in browser.find_element(By.TAG_NAME, "body").text
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{server}/q/toy/why_ddof/0", method="POST",
                                                      data=b"points=2&version=0"), timeout=10)
    assert refused.value.code == 403


def test_digitcourse_mark_listens_on_127_0_0_1_with_a_fresh_token_and_writes_the_grades_when_stopped(
        book, gradebook_url, tmp_path):
    command = [sys.executable, "-m", "digitcourse", "mark", "--gradebook", gradebook_url, "--port", "0",
               "--out", str(tmp_path)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        printed = server.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/\?token=([\w-]{32})", printed)
        assert address, printed
        base, token = address.group(0).split("/?")[0], address.group(1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/", timeout=10)
        assert refused.value.code == 403
        assert b"why_ddof" in urllib.request.urlopen(address.group(0), timeout=10).read()
        urllib.request.urlopen(urllib.request.Request(f"{base}/q/toy/why_ddof/0?token={token}", method="POST",
                                                      data=b"points=1.5&comment=half&version=0"), timeout=10)
        server.send_signal(signal.SIGINT)  # Ctrl+C
        printed = server.communicate(timeout=60)[0]
    finally:
        server.kill()
    assert server.returncode == 0 and f"wrote {tmp_path / 'grades.csv'}" in printed, printed
    with open(tmp_path / "grades.csv", newline="") as grades:
        marked = {row["student"]: row["why_ddof"] for row in csv.DictReader(grades)}
    assert marked == {"ann": "1.5", "bob": "", "cid": "", "dan": ""}
    assert (tmp_path / "report.html").is_file()
