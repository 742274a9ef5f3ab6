// The C++17 layer: RAII handles, exceptions, std::future-shaped tasks.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include "interp.hpp"

#define EXPECT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                         \
        }                                                                         \
    } while (0)

// `e` (an interp::Error) must have status `want`; prints both and the message.
#define EXPECT_STATUS(want, e)                                                                  \
    do {                                                                                        \
        if ((e).status() != (want)) {                                                           \
            std::fprintf(stderr, "%s:%d: status %s (%d), expected %s (%d): %s\n", __FILE__, __LINE__, \
                         interp_status_name((e).status()), (e).status(), interp_status_name(want), \
                         (want), (e).what());                                                   \
            std::exit(1);                                                                       \
        }                                                                                       \
    } while (0)

// `got` must equal `want`; prints both (they must be printable).
template <typename G, typename W>
void expect_eq(const char* file, int line, const char* expr, const G& got, const W& want) {
    if (got == want) return;
    std::cerr << file << ":" << line << ": " << expr << " is " << got << ", expected " << want << "\n";
    std::exit(1);
}
#define EXPECT_EQ(got, want) expect_eq(__FILE__, __LINE__, #got, (got), (want))

// Reached when a call expected to throw returned normally.
#define FAIL(what)                                                                    \
    do {                                                                              \
        std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what);                \
        std::exit(1);                                                                 \
    } while (0)

int main() {
    using namespace std::chrono_literals;
    {
        interp_pool_options_t opts;
        interp_pool_options_init(&opts);
        opts.workers = 2;
        opts.init_source = "def sq(x):\n    return x * x\ndef spin():\n    while True:\n        pass\n"
                           "def fail():\n    raise KeyError('k')\n";
        // The cancel below must land as a clean cancellation: under load or
        // valgrind that can take seconds. Only an upper bound.
        opts.kill_grace_ms = 60000;
        interp::Pool pool(opts);
        std::vector<interp::Task> tasks;
        for (int i = 0; i < 8; i++) tasks.push_back(pool.submit("__main__", "sq", {interp::Value::integer(i)}));
        std::int64_t sum = 0;
        for (auto& t : tasks) sum += t.get().as_int();
        EXPECT_EQ(sum, 140);

        auto spin = pool.submit("__main__", "spin");
        EXPECT(spin.wait_for(20ms) == std::future_status::timeout);
        std::atomic<int> called{0};
        spin.on_complete([&] { called++; });
        EXPECT(spin.cancel());
        try {
            spin.get();
            FAIL("a cancelled task returned a value");
        } catch (const interp::Error& e) {
            EXPECT_STATUS(INTERP_ERR_CANCELLED, e);
        }
        for (int i = 0; i < 1000 && called == 0; i++) std::this_thread::sleep_for(1ms);
        EXPECT_EQ(called.load(), 1);
        // A throwing callback never unwinds into the library.
        spin.on_complete([] { throw std::runtime_error("ignored"); });
        EXPECT(spin.wait_for(-5ms) == std::future_status::ready);

        try {
            pool.submit("__main__", "fail").get();
            FAIL("a task raising KeyError returned a value");
        } catch (const interp::Error& e) {
            EXPECT_STATUS(INTERP_ERR_PYTHON, e);
            EXPECT_EQ(e.type_name(), "KeyError");
            EXPECT(e.traceback().find("in fail") != std::string::npos);
        }
    }
    {
        interp::Interpreter in;
        in.exec("def both(a, b):\n    return [b, a]\n");
        auto r = in.call("__main__", "both", {interp::Value::str("x"), interp::Value::integer("100000000000000000000")});
        EXPECT_EQ(r.size(), 2u);
        EXPECT_EQ(r[0].as_decimal(), "100000000000000000000");
        EXPECT_EQ(r[1].as_str(), "x");
        interp::Value copy = r;  // copies share the immutable value
        EXPECT(copy == r);
        auto d = interp::Value::dict({{interp::Value::str("k"), interp::Value::list({interp::Value::real(1.5), interp::Value::none()})}});
        EXPECT_EQ(in.call("builtins", "repr", {d}).as_str(), "{'k': [1.5, None]}");
        interp::Channel ch(2);
        in.exec("def put(c):\n    c.send('hi')\n");
        in.call("__main__", "put", {ch.value()});
        EXPECT_EQ(ch.recv(1.0).as_str(), "hi");
        try {
            in.exec("1/0");
            FAIL("1/0 did not throw");
        } catch (const interp::Error& e) {
            EXPECT_EQ(e.type_name(), "ZeroDivisionError");
        }
    }
    interp_error_t* err = nullptr;
    interp_status_t st = interp_runtime_finalize(&err);
    if (st != INTERP_OK) {
        std::fprintf(stderr, "%s:%d: interp_runtime_finalize returned %s: %s\n", __FILE__, __LINE__,
                     interp_status_name(st), interp_error_message(err));
        std::exit(1);
    }
    std::puts("ok");
    return 0;
}
