"""A small program that keeps more alive than it should."""

CACHE = {}


def load_template(path):
    f = open(path, encoding="utf-8")
    text = f.read()
    return text


def remember(key, value):
    CACHE[key] = value
    return value


HANDLERS = [CACHE, CACHE]

if __name__ == "__main__":
    remember("self", load_template(__file__))
    print("hello from leaky.py:", len(CACHE), "cached")
