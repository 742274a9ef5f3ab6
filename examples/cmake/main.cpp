// The C example in C++17 (interp.hpp: RAII handles, exceptions, std::future-
// shaped tasks), built by CMake against an installed interp. See the README
// ("C and C++").
#include <cstdio>
#include <vector>
#include "interp.hpp"

int main() {
    try {
        interp::Pool pool(0, "def work(n):\n    return sum(i * i for i in range(n))\n");
        std::vector<interp::Task> tasks;
        for (int i = 0; i < 4; i++) tasks.push_back(pool.submit("__main__", "work", {interp::Value::integer(2000000 + i)}));
        for (int i = 0; i < 4; i++) std::printf("work(%d) = %s\n", 2000000 + i, tasks[i].get().as_decimal().c_str());
    } catch (const interp::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
