// containers: a C++ program with libstdc++'s map, deque, list and vector of strings, and a C-style
// array of {char *p; size_t len; size_t cap} buffers (24 bytes each, as Rust's String or a C string
// builder). Six records are never indexed nor freed (the bug), and an array of four buffers is
// lost. Prints READY when the leaks exist, then waits for a line (or EOF) on stdin and exits.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>
struct Buf { char *p; size_t len; size_t cap; };
struct Record { std::string name; std::vector<std::string> tags; std::list<int> hist; };
static Buf make(int i) {
  Buf b; b.cap = 40; b.p = (char *)malloc(b.cap + 1);
  b.len = (size_t)snprintf(b.p, b.cap + 1, "buffer number %d with text", i);
  return b;
}
int main() {
  Buf *bufs = (Buf *)malloc(sizeof(Buf) * 64);
  for (int i = 0; i < 64; i++) bufs[i] = make(i);
  std::map<std::string, Record *> index;
  std::deque<std::string> log;
  for (int i = 0; i < 300; i++) {
    auto *r = new Record{"record name number " + std::to_string(i), {}, {}};
    for (int k = 0; k < 3; k++) r->tags.push_back("a tag long enough to be on the heap " + std::to_string(k));
    for (int k = 0; k < 4; k++) r->hist.push_back(k);
    if (i % 50 == 7) continue;  // the bug: never indexed, never freed (6 records)
    index["key " + std::to_string(i)] = r;
    log.push_back("inserted record number " + std::to_string(i) + " into the index");
  }
  Buf *lost = (Buf *)malloc(sizeof(Buf) * 4);  // lost with its 4 buffers
  for (int i = 0; i < 4; i++) lost[i] = make(100 + i);
  lost = nullptr;
  printf("READY %zu %zu %p\n", index.size(), log.size(), (void *)bufs);
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) line[0] = 0;
  return 0;
}
