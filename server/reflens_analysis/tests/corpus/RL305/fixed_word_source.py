"""Generates passphrases from a word list."""
import functools
import gzip
import secrets


@functools.lru_cache(maxsize=1)
def _words(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return tuple(fh.read().split())


def passphrase(count=4, sep="-", path="/usr/share/dict/words.gz"):
    words = _words(path)
    return sep.join(secrets.choice(words) for _ in range(count))


def main():
    for _ in range(5):
        print(passphrase())


if __name__ == "__main__":
    main()
