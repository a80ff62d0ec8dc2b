// sessions: a small C++17 server model on the real libstdc++, with the leaks C++ programs have.
//
// A registry `std::map<std::string, std::shared_ptr<Session>>` holds session trees; every child
// holds a shared_ptr to its parent (a reference cycle), so dropping a tree from the map leaks the
// whole tree. Also leaked: a `new std::map<int, std::string>` that nobody deletes, and a
// polymorphic `new EchoHandler` whose pointer is lost. Strings, vectors and maps grow and shrink
// on the way, so glibc recycles memory that still holds stale pointers from earlier objects.
//
// Prints READY when every leak exists, then waits for a line (or EOF) on stdin and exits normally.
// Built with `g++ -std=c++17 -g -O1` (bench/real_programs.sh).
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct Handler {
  virtual ~Handler() = default;
  virtual std::string handle(const std::string &in) = 0;
};

struct EchoHandler : Handler {
  std::string prefix = "echo: a prefix long enough to live on the heap";
  std::vector<std::string> history;
  std::string handle(const std::string &in) override {
    history.push_back(in);
    return prefix + in;
  }
};

struct Session {
  std::string name;
  std::shared_ptr<Session> parent;  // child -> parent: the cycle
  std::vector<std::shared_ptr<Session>> children;
  std::unordered_map<std::string, std::string> attributes;
  std::vector<char> buffer;
};

std::map<std::string, std::shared_ptr<Session>> g_registry;

static std::shared_ptr<Session> make_tree(const std::string &name, int depth, int fanout,
                                          const std::shared_ptr<Session> &parent) {
  auto s = std::make_shared<Session>();
  s->name = name + " (a session name long enough for a heap buffer)";
  s->parent = parent;
  for (int i = 0; i < 4; i++) {
    s->attributes["key-" + std::to_string(i) + "-padding-to-go-past-sso"] =
        "value-" + std::to_string(i) + "-with-more-padding-past-sso";
  }
  s->buffer.resize(64 + 16 * depth);
  if (depth > 0) {
    for (int i = 0; i < fanout; i++) {
      s->children.push_back(make_tree(name + "/" + std::to_string(i), depth - 1, fanout, s));
    }
  }
  return s;
}

// A deterministic generator (no libc rand: the same run under valgrind and natively).
static unsigned g_seed = 12345;
static unsigned next_random() {
  g_seed = g_seed * 1103515245u + 12345u;
  return (g_seed >> 16) & 0x7fff;
}

// One request to a live session: its history grows (vector reallocation, string growth), its
// attributes change, its buffer is resized. The freed memory goes back to glibc with the old
// pointers still in it, and later objects are carved out of it.
static void handle_message(Session &s, int n) {
  std::string msg = "message " + std::to_string(n) + " for " + s.name.substr(0, 12);
  s.attributes["last-" + std::to_string(n % 5) + "-padding-past-sso"] = msg;
  s.buffer.resize(s.buffer.size() + 24);
  if (!s.children.empty()) {
    auto &c = s.children[n % s.children.size()];
    c->name += "+";
  }
}

int main() {
  // A stream of events: open a session tree, send messages, close sessions. Every fourth close
  // drops the tree from the registry without breaking its parent cycles: a leaked tree.
  int leaked_trees = 0, opened = 0;
  std::vector<std::string> open_keys;
  for (int event = 0; event < 600; event++) {
    unsigned r = next_random() % 10;
    if (r < 3 || open_keys.size() < 4) {
      std::string key = "session-" + std::to_string(opened++);
      g_registry[key] = make_tree(key, 2, 2, nullptr);
      open_keys.push_back(key);
    } else if (r < 8) {
      auto &key = open_keys[next_random() % open_keys.size()];
      handle_message(*g_registry[key], event);
    } else {
      size_t k = next_random() % open_keys.size();
      std::string key = open_keys[k];
      open_keys.erase(open_keys.begin() + (long)k);
      auto it = g_registry.find(key);
      if (leaked_trees < 15 && opened % 4 == 0) {
        leaked_trees++;  // the bug: the children's parent pointers keep the tree alive
      } else {
        std::vector<Session *> todo{it->second.get()};
        while (!todo.empty()) {  // the right way: break every child's cycle first
          Session *s = todo.back();
          todo.pop_back();
          for (auto &c : s->children) {
            c->parent.reset();
            todo.push_back(c.get());
          }
        }
      }
      g_registry.erase(it);
    }
  }

  auto *index = new std::map<int, std::string>();  // never deleted
  for (int i = 0; i < 12; i++) (*index)[i] = "index entry " + std::to_string(i) + " past sso";
  index = nullptr;

  Handler *h = new EchoHandler();  // pointer lost
  for (int i = 0; i < 5; i++) h->handle("message number " + std::to_string(i) + " past sso");
  h = nullptr;
  for (int event = 0; event < 200; event++) {
    auto &key = open_keys[next_random() % open_keys.size()];
    handle_message(*g_registry[key], event);
  }

  std::printf("READY %zu sessions open, %d trees leaked\n", g_registry.size(), leaked_trees);
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  return 0;
}
