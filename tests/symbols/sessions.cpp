// A small C++ program whose allocations go through templates, lambdas, operators and libstdc++
// containers; it leaks a tree on purpose. The symbol tests record it (heapscope run) and check the
// names, the demangling and the folding of library frames on its real stacks.
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace shop {

struct Node {
  Node *left = nullptr;
  Node *right = nullptr;
  std::string label;
};

// A leaked binary tree: every node is allocated here and never freed.
__attribute__((noinline)) Node *make_tree(int depth) {
  if (depth == 0) return nullptr;
  Node *n = new Node; /* LINE make_tree */
  n->left = make_tree(depth - 1);
  n->right = make_tree(depth - 1);
  return n;
}

template <typename T, int N> struct Basket {
  std::vector<T> items;
  std::map<std::string, std::vector<T>> byName;

  // Grows the vector through libstdc++'s allocator: the stack is several std:: frames deep.
  __attribute__((noinline)) Basket &operator+=(const T &item) {
    items.push_back(item); /* LINE operator+= */
    return *this;
  }

  template <typename F> __attribute__((noinline)) void each(F f) {
    for (int i = 0; i < N; i++) f(i);
  }
};

struct Session {
  Basket<std::pair<long, double>, 8> basket;
  std::vector<std::function<long(long)>> hooks;
};

} // namespace shop

static shop::Session *kept;

int main(int argc, char **argv) {
  shop::Node *tree = shop::make_tree(4);
  auto *session = new shop::Session;
  kept = session;
  session->basket.each([&](int i) {
    session->basket += std::make_pair(long(i), i * 0.5); /* LINE lambda */
    session->basket.byName["item" + std::to_string(i * 1000000)].push_back({i, 0.0});
  });
  session->hooks.push_back([tree](long x) { return x + (tree != nullptr); });
  tree = nullptr; // the tree is leaked: nothing points to it any more
  // Where make_tree is at run time: the tests derive the load bias from it, without heapscope.
  std::printf("fn make_tree %p\n", reinterpret_cast<void *>(&shop::make_tree));
  std::printf("READY\n");
  std::fflush(stdout);
  if (argc > 1 && std::string(argv[1]) == "wait") {
    char c;
    while (read(0, &c, 1) > 0) { // mapped and alive until the test closes stdin
    }
  }
  return session->hooks[0](1) == 2 ? 0 : 1;
}
