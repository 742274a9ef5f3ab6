// The C++17 layer: RAII handles, exceptions, std::future-shaped tasks.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

int main() {
    using namespace std::chrono_literals;
    {
        interp::Pool pool(2, "def sq(x):\n    return x * x\ndef spin():\n    while True:\n        pass\n"
                             "def fail():\n    raise KeyError('k')\n");
        std::vector<interp::Task> tasks;
        for (int i = 0; i < 8; i++) tasks.push_back(pool.submit("__main__", "sq", {interp::Value::integer(i)}));
        std::int64_t sum = 0;
        for (auto& t : tasks) sum += t.get().as_int();
        EXPECT(sum == 140);

        auto spin = pool.submit("__main__", "spin");
        EXPECT(spin.wait_for(20ms) == std::future_status::timeout);
        std::atomic<int> called{0};
        spin.on_complete([&] { called++; });
        EXPECT(spin.cancel());
        try {
            spin.get();
            EXPECT(false);
        } catch (const interp::Error& e) {
            EXPECT(e.status() == INTERP_ERR_CANCELLED);
        }
        for (int i = 0; i < 1000 && called == 0; i++) std::this_thread::sleep_for(1ms);
        EXPECT(called == 1);
        // A throwing callback never unwinds into the library.
        spin.on_complete([] { throw std::runtime_error("ignored"); });
        EXPECT(spin.wait_for(-5ms) == std::future_status::ready);

        try {
            pool.submit("__main__", "fail").get();
            EXPECT(false);
        } catch (const interp::Error& e) {
            EXPECT(e.status() == INTERP_ERR_PYTHON);
            EXPECT(e.type_name() == "KeyError");
            EXPECT(e.traceback().find("in fail") != std::string::npos);
        }
    }
    {
        interp::Interpreter in;
        in.exec("def both(a, b):\n    return [b, a]\n");
        auto r = in.call("__main__", "both", {interp::Value::str("x"), interp::Value::integer("100000000000000000000")});
        EXPECT(r.size() == 2);
        EXPECT(r[0].as_decimal() == "100000000000000000000");
        EXPECT(r[1].as_str() == "x");
        interp::Value copy = r;  // copies share the immutable value
        EXPECT(copy == r);
        auto d = interp::Value::dict({{interp::Value::str("k"), interp::Value::list({interp::Value::real(1.5), interp::Value::none()})}});
        EXPECT(in.call("builtins", "repr", {d}).as_str() == "{'k': [1.5, None]}");
        interp::Channel ch(2);
        in.exec("def put(c):\n    c.send('hi')\n");
        in.call("__main__", "put", {ch.value()});
        EXPECT(ch.recv(1.0).as_str() == "hi");
        try {
            in.exec("1/0");
            EXPECT(false);
        } catch (const interp::Error& e) {
            EXPECT(e.type_name() == "ZeroDivisionError");
        }
    }
    interp_error_t* err = nullptr;
    EXPECT(interp_runtime_finalize(&err) == INTERP_OK);
    std::puts("ok");
    return 0;
}
