# Programs of the offline-analysis tests (snapshot files, core files, diff, watch, suppressions),
# built by `make test` (test-programs, after test-deps installed g++): `make demo` needs only cc:
#
#   build/real/sessions       bench/real_programs/sessions.cpp: C++17 on the real libstdc++ (a
#                             program we did not write for these tests), -O1 -g as the bench builds it
#   build/victim/grow         victim/grow.c: grows a cache and leaks on commands (diff, watch)

.PHONY: offline-victims
test-programs: offline-victims
offline-victims: $(BUILD)/real/sessions $(BUILD)/victim/grow

$(BUILD)/real/sessions: bench/real_programs/sessions.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -o $@ $<

$(BUILD)/victim/grow: victim/grow.c
	@mkdir -p $(dir $@)
	$(CC) -O0 -g -Wall -Wextra -Werror -std=gnu11 -o $@ $<
