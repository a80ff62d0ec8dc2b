// A C++ program with the allocation patterns of real code (node and hash containers, strings,
// shared_ptr graphs with weak back edges, exceptions, threads, iostreams, C realloc growth) whose
// output tests/recorder_c_test.ts compares with and without the recorder: it must be identical.
// Prints deterministic checksums; exits 0.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

struct Node {
  int id;
  std::vector<std::shared_ptr<Node>> children;
  std::weak_ptr<Node> parent;
  std::string label;
};

uint64_t tree_checksum(const std::shared_ptr<Node> &n) {
  uint64_t h = mix(0xcbf29ce484222325ull, static_cast<uint64_t>(n->id));
  for (char c : n->label) h = mix(h, static_cast<unsigned char>(c));
  for (const auto &c : n->children) h = mix(h, tree_checksum(c));
  return h;
}

uint64_t containers(int seed) {
  std::map<std::string, std::vector<int>> by_name;
  std::unordered_map<int, std::string> by_id;
  for (int i = 0; i < 20000; i++) {
    std::string key = "k" + std::to_string((i * 7919 + seed) % 5003);
    by_name[key].push_back(i);
    by_id.emplace(i, key + "/" + std::to_string(i));
    if (i % 3 == 0) by_id.erase(i / 2);
  }
  uint64_t h = 0;
  for (const auto &[k, v] : by_name) h = mix(h, k.size() + std::accumulate(v.begin(), v.end(), 0ull));
  std::vector<std::string> keys;
  for (const auto &kv : by_id) keys.push_back(kv.second);
  std::sort(keys.begin(), keys.end());
  for (const auto &k : keys) h = mix(h, k.size());
  return h ^ keys.size();
}

std::shared_ptr<Node> build_tree(int depth, int &next, const std::shared_ptr<Node> &parent) {
  auto n = std::make_shared<Node>();
  n->id = next++;
  n->parent = parent;
  n->label = std::string(static_cast<size_t>(n->id % 40), static_cast<char>('a' + n->id % 26));
  if (depth > 0) {
    for (int i = 0; i < 3; i++) n->children.push_back(build_tree(depth - 1, next, n));
  }
  return n;
}

int exceptions() {
  int caught = 0;
  for (int i = 0; i < 2000; i++) {
    try {
      if (i % 3 == 0) throw std::runtime_error("failure number " + std::to_string(i));
      if (i % 3 == 1) throw std::out_of_range(std::string(static_cast<size_t>(i % 100), 'x'));
    } catch (const std::exception &e) {
      caught += static_cast<int>(std::strlen(e.what()) % 7);
    }
  }
  return caught;
}

size_t c_realloc_growth() {
  size_t cap = 1, len = 0;
  char *buf = static_cast<char *>(std::malloc(cap));
  for (int i = 0; i < 200000; i++) {
    if (len + 8 > cap) {
      cap *= 2;
      buf = static_cast<char *>(std::realloc(buf, cap));
    }
    std::memcpy(buf + len, "abcdefgh", static_cast<size_t>(i % 8));
    len += static_cast<size_t>(i % 8);
  }
  size_t sum = 0;
  for (size_t i = 0; i < len; i++) sum += static_cast<unsigned char>(buf[i]);
  std::free(buf);
  return sum ^ len;
}

}  // namespace

int main() {
  std::vector<uint64_t> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) threads.emplace_back([t, &results] { results[t] = containers(t); });
  for (auto &t : threads) t.join();
  for (int t = 0; t < 4; t++) std::cout << "containers " << t << " " << results[t] << "\n";

  int next = 0;
  auto root = build_tree(7, next, nullptr);
  std::cout << "tree " << next << " " << tree_checksum(root) << "\n";
  root.reset();

  std::cout << "exceptions " << exceptions() << "\n";
  std::cout << "realloc " << c_realloc_growth() << "\n";

  std::ostringstream os;
  for (int i = 0; i < 10000; i++) os << i << (i % 10 ? ',' : '\n');
  std::string text = os.str();
  std::cout << "stream " << text.size() << " " << std::count(text.begin(), text.end(), '\n')
            << "\n";
  return 0;
}
