#!/usr/bin/env python3
"""Print the urlencoded body of the first form in an HTML file: its hidden inputs (a CSRF token,
say) with their values, plus the NAME=VALUE pairs given as arguments.

    form_fields.py PAGE.html [NAME=VALUE ...]
"""
import html.parser
import sys
import urllib.parse


class Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = []
        self.forms = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms += 1
        elif tag == "input" and self.forms == 1 and a.get("type") == "hidden" and a.get("name"):
            self.fields.append((a["name"], a.get("value") or ""))


page = Form()
page.feed(open(sys.argv[1], encoding="utf-8").read())
fields = page.fields + [tuple(arg.split("=", 1)) for arg in sys.argv[2:]]
print(urllib.parse.urlencode(fields))
