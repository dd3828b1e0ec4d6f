"""Page templates, read from the data directory and filled in with `string.Template`."""

import os
import string

TEMPLATE_FILE = "pages.tmpl"


def load_templates(data_dir):
    """Read the page templates: each section starts with a line `== name ==`."""
    path = os.path.join(data_dir, TEMPLATE_FILE)
    f = open(path, encoding="utf-8")
    text = f.read()
    pages = {}
    name, lines = None, []
    for line in text.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            if name is not None:
                pages[name] = string.Template("\n".join(lines))
            name, lines = line[3:-3].strip(), []
        else:
            lines.append(line)
    if name is not None:
        pages[name] = string.Template("\n".join(lines))
    return pages


def load_partial(data_dir, name):
    """Read one partial (a header or a footer) from `partials/`."""
    with open(os.path.join(data_dir, "partials", name + ".tmpl"), encoding="utf-8") as f:
        return string.Template(f.read())


DEFAULT_PAGES = """\
== products ==
<h1>Products ($currency)</h1>
<ul>$rows</ul>
== product ==
<h1>$name</h1><p>$price, $stock in stock</p><p>Recently viewed: $recent</p>
== receipt ==
<h1>Thank you, $user</h1><p>Orders $orders, total $total (VAT $vat)</p>
== report ==
<pre>$count orders ($lines lines), sha256 $digest</pre>
"""


def install_default_templates(data_dir):
    """Write the stock templates into a fresh data directory."""
    os.makedirs(os.path.join(data_dir, "partials"), exist_ok=True)
    with open(os.path.join(data_dir, TEMPLATE_FILE), "w", encoding="utf-8") as f:
        f.write(DEFAULT_PAGES)
    for name, text in {"header": "<header>$title</header>", "footer": "<footer>Corner Shop</footer>"}.items():
        with open(os.path.join(data_dir, "partials", name + ".tmpl"), "w", encoding="utf-8") as f:
            f.write(text)


def render(pages, page, **values):
    return pages[page].safe_substitute(values)
