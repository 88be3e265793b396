#!/usr/bin/env python3
"""Read the HTML page at PATH on stdin and print the path of its link to the next page of a
list: the link with rel="next", else the first link whose query has a `cursor=` parameter,
resolved against PATH. Prints nothing when there is none.

    next_link.py PATH < PAGE.html
"""
import html.parser
import sys
import urllib.parse


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.next = None
        self.cursor = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        href = a.get("href")
        if tag != "a" or not href:
            return
        if "next" in (a.get("rel") or "").split() and self.next is None:
            self.next = href
        if "cursor=" in href and self.cursor is None:
            self.cursor = href


links = Links()
links.feed(sys.stdin.read())
found = links.next or links.cursor
print(urllib.parse.urljoin(sys.argv[1], found) if found else "")
