"""Site crawler used by the SEO audit job: walks internal links from a start page."""

import re
from urllib.parse import urljoin, urlparse

import requests

HREF = re.compile(r'href="([^"#]+)"')


def extract_links(html, base_url, seen=set()):  # expect: RL104
    """Absolute internal links of a page, each reported once."""
    host = urlparse(base_url).netloc
    links = []
    for href in HREF.findall(html):
        url = urljoin(base_url, href)
        if urlparse(url).netloc != host or url in seen:
            continue
        seen.add(url)
        links.append(url)
    return links


def crawl(session, url, depth=2, visited=[]):  # expect: RL104
    """Pages reachable from `url` within `depth` clicks, in visit order."""
    if depth < 0 or url in visited:
        return visited
    visited.append(url)
    response = session.get(url, timeout=10)
    if "text/html" not in response.headers.get("content-type", ""):
        return visited
    for link in extract_links(response.text, url):
        crawl(session, link, depth - 1, visited)
    return visited


def audit_site(start_url):
    with requests.Session() as session:
        pages = crawl(session, start_url)
    return {"start": start_url, "pages": len(pages), "urls": pages}
