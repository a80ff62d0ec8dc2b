// gcache: a string-keyed cache on the real GLib (GHashTable, GString, GList, GPtrArray). The bug:
// an update steals the old entry out of the table (g_hash_table_steal_extended) and forgets it, so
// the entry, its name, its tag list and its history leak, 20 of 200. Prints READY when the leaks
// exist, then waits for a line (or EOF) on stdin and exits normally (after destroying the table).
//
// GLib's own small objects (the GString, the GList nodes, the GPtrArray) come from its slice
// allocator, in slabs it keeps, unless G_SLICE=always-malloc: then every object is its own malloc
// block, as valgrind's GLib notes ask for.
#include <glib.h>
#include <stdio.h>

typedef struct {
  GString *name;
  GList *tags;
  GPtrArray *history;
} Entry;

static void entry_free(gpointer p) {
  Entry *e = p;
  g_string_free(e->name, TRUE);
  g_list_free_full(e->tags, g_free);
  g_ptr_array_unref(e->history);
  g_free(e);
}

static Entry *entry_new(int i) {
  Entry *e = g_new0(Entry, 1);
  e->name = g_string_new(NULL);
  g_string_printf(e->name, "entry number %d", i);
  for (int k = 0; k < 3; k++) e->tags = g_list_prepend(e->tags, g_strdup_printf("tag-%d-%d", i, k));
  e->history = g_ptr_array_new_with_free_func(g_free);
  for (int k = 0; k < 2; k++) g_ptr_array_add(e->history, g_strdup_printf("version %d of %d", k, i));
  return e;
}

int main(void) {
  GHashTable *cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
  for (int i = 0; i < 200; i++) g_hash_table_insert(cache, g_strdup_printf("key-%d", i), entry_new(i));
  char key[32];
  // Updates: every tenth key gets a new entry; the old one is stolen and forgotten (the bug).
  for (int i = 0; i < 200; i += 10) {
    snprintf(key, sizeof key, "key-%d", i);
    gpointer old_key = NULL, old_value = NULL;
    if (g_hash_table_steal_extended(cache, key, &old_key, &old_value)) g_free(old_key);
    g_hash_table_insert(cache, g_strdup(key), entry_new(1000 + i));
  }
  // Removals done right: the table frees key and entry.
  for (int i = 3; i < 200; i += 7) {
    snprintf(key, sizeof key, "key-%d", i);
    g_hash_table_remove(cache, key);
  }
  printf("READY %u entries\n", g_hash_table_size(cache));
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) line[0] = 0;
  g_hash_table_destroy(cache);
  return 0;
}
