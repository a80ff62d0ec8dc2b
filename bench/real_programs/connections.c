// connections: opens sqlite3 databases with the real libsqlite3, creates tables, inserts and
// queries rows, closes three connections and never closes five (the bug: the handles are lost).
// Each unclosed connection keeps its schema, page cache and statement memory. Prints READY when
// the leaks exist, then waits for a line (or EOF) on stdin and exits normally.
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static sqlite3 *open_and_fill(int i) {
  sqlite3 *db = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) exit(1);
  char sql[256];
  sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB);"
                   "CREATE INDEX t_name ON t(name);", NULL, NULL, NULL);
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db, "INSERT INTO t(name, payload) VALUES (?, zeroblob(?))", -1, &st, NULL);
  for (int k = 0; k < 200 + 50 * i; k++) {
    snprintf(sql, sizeof sql, "row %d of connection %d with a longer name", k, i);
    sqlite3_bind_text(st, 1, sql, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, 64 + k % 200);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_exec(db, "SELECT count(*), sum(length(payload)) FROM t WHERE name LIKE 'row 1%'", NULL,
               NULL, NULL);
  return db;
}

int main(void) {
  sqlite3 *kept = NULL;
  for (int i = 0; i < 8; i++) {
    sqlite3 *db = open_and_fill(i);
    if (i == 0) {
      kept = db;  // reachable at READY
    } else if (i % 3 == 1) {
      sqlite3_close(db);
    } else {
      db = NULL;  // the bug: never closed, the handle is lost
    }
  }
  printf("READY\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) line[0] = 0;
  sqlite3_close(kept);
  return 0;
}
