"""Generates passphrases from a word list."""
import gzip
import secrets


def _words(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        words = fh.read().split()
    while True:
        yield secrets.choice(words)


WORDS = _words("/usr/share/dict/words.gz")  # expect: RL305


def passphrase(count=4, sep="-"):
    return sep.join(next(WORDS) for _ in range(count))


def main():
    for _ in range(5):
        print(passphrase())


if __name__ == "__main__":
    main()
