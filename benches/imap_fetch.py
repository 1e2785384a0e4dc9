#!/usr/bin/env python3
"""The raw limit for intake: a plain IMAP client that fetches every message body of a
folder in batches of UIDs and does nothing else (no parsing, no storing).

    imap_fetch.py PORT USER PASSWORD [BATCH]

Prints "<messages> <bytes> <seconds>"; the seconds run from connect to logout.
"""
import imaplib
import sys
import time


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    start = time.perf_counter()
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("SEARCH", None, "ALL")
    uids = [int(u) for u in data[0].split()]
    messages = 0
    size = 0
    for i in range(0, len(uids), batch):
        chunk = uids[i:i + batch]
        typ, data = imap.uid("FETCH", "%d:%d" % (chunk[0], chunk[-1]), "(BODY.PEEK[])")
        if typ != "OK":
            raise SystemExit("FETCH failed: %r" % (data,))
        for item in data:
            if isinstance(item, tuple):
                messages += 1
                size += len(item[1])
    imap.logout()
    print(messages, size, "%.6f" % (time.perf_counter() - start))


if __name__ == "__main__":
    main()
