#!/usr/bin/env python3
"""What a random-key index costs SQLite's WAL, the floor under duplicate detection (issue 13).

    python3 bench/sqlite_random_keys.py [ROWS=100000]

Inserts ROWS rows, 32 per transaction (a journal batch), WAL, synchronous=FULL, no checkpoints
(so the WAL holds every frame written), into: a table appended in key order (as deliveries
are, by time-ordered id) and a WITHOUT ROWID table keyed by 16 random bytes (as dedup keys are,
by a hash of the key). Prints the bytes written per row for page sizes 4096 and 1024.
"""
import os
import sqlite3
import sys
import tempfile

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def written():
    with open('/proc/self/io') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('write_bytes'))


for page_size in (4096, 1024):
    for kind in ('appended', 'random key'):
        with tempfile.TemporaryDirectory(prefix='hookflow-bench-keys-') as d:
            db = sqlite3.connect(os.path.join(d, 'k.db'), isolation_level=None)
            db.execute(f'PRAGMA page_size={page_size}')
            db.execute('PRAGMA journal_mode=WAL')
            db.execute('PRAGMA synchronous=FULL')
            db.execute('PRAGMA wal_autocheckpoint=0')
            if kind == 'appended':
                db.execute('CREATE TABLE k (h BLOB, d TEXT, e INT)')
            else:
                db.execute('CREATE TABLE k (h BLOB PRIMARY KEY, d TEXT, e INT) WITHOUT ROWID')
            before = written()
            for batch in range(ROWS // 32):
                db.execute('BEGIN IMMEDIATE')
                for _ in range(32):
                    db.execute('INSERT INTO k VALUES (?, ?, ?)', (os.urandom(16), 'x' * 36, batch))
                db.execute('COMMIT')
            print(f'page_size {page_size}\t{kind}\t{(written() - before) / ROWS:.0f} bytes written per row')
            db.close()
