// interp.hpp: a small header-only C++17 layer over interp.h.
//
// - Unique, movable handles that free themselves (Value is also copyable:
//   values are immutable and cheap to share).
// - Errors are exceptions: interp::Error carries the status, the message and,
//   for Python exceptions, the type name and traceback.
// - Task is shaped like std::future: get(), wait(), wait_for(), valid().
#ifndef INTERP_HPP
#define INTERP_HPP

#include "interp.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interp {

/// A failed interp call: status, message, and for Python exceptions the
/// exception's type name and formatted traceback.
class Error : public std::runtime_error {
 public:
  Error(interp_status_t status, std::string message, std::string type_name, std::string traceback)
      : std::runtime_error(std::move(message)),
        status_(status),
        type_name_(std::move(type_name)),
        traceback_(std::move(traceback)) {}
  interp_status_t status() const noexcept { return status_; }
  /// The Python exception type ("ValueError"), empty for other errors.
  const std::string& type_name() const noexcept { return type_name_; }
  /// The formatted Python traceback, empty for other errors.
  const std::string& traceback() const noexcept { return traceback_; }

 private:
  interp_status_t status_;
  std::string type_name_;
  std::string traceback_;
};

namespace detail {
inline std::string str_or_empty(const char* s) { return s ? std::string(s) : std::string(); }

/// Throws interp::Error for a failed status, freeing the C error object.
/// `err` is taken by reference: in `check(interp_f(..., &err), err)` it is
/// read only after the call ran (argument evaluation order is unspecified).
inline void check(interp_status_t status, interp_error_t* const& err) {
  if (status == INTERP_OK) return;
  std::string msg = err ? str_or_empty(interp_error_message(err)) : std::string(interp_status_name(status));
  std::string type = err ? str_or_empty(interp_error_type_name(err)) : std::string();
  std::string tb = err ? str_or_empty(interp_error_traceback(err)) : std::string();
  interp_error_free(err);
  throw Error(status, std::move(msg), std::move(type), std::move(tb));
}

/// A unique handle freed by `Free`.
template <class T, interp_status_t (*Free)(T*)>
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(T* h) noexcept : h_(h) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() noexcept {
    if (h_) Free(h_);
    h_ = nullptr;
  }
  T* get() const noexcept { return h_; }
  T* release() noexcept { return std::exchange(h_, nullptr); }
  explicit operator bool() const noexcept { return h_ != nullptr; }

 private:
  T* h_ = nullptr;
};
}  // namespace detail

/// An interpreter-independent Python value.
class Value {
 public:
  /// Takes ownership of a C handle.
  explicit Value(interp_value_t* h) : h_(h) {}
  Value(const Value& o) : h_(clone_of(o.get())) {}
  Value& operator=(const Value& o) {
    if (this != &o) h_ = detail::Handle<interp_value_t, interp_value_free>(clone_of(o.get()));
    return *this;
  }
  Value(Value&&) noexcept = default;
  Value& operator=(Value&&) noexcept = default;

  static Value none() { return make([](interp_value_t** o, interp_error_t** e) { return interp_value_none(o, e); }); }
  static Value boolean(bool b) {
    return make([b](interp_value_t** o, interp_error_t** e) { return interp_value_bool(b ? 1 : 0, o, e); });
  }
  static Value integer(std::int64_t n) {
    return make([n](interp_value_t** o, interp_error_t** e) { return interp_value_int64(n, o, e); });
  }
  /// An int of any size from decimal text.
  static Value integer(const std::string& decimal) {
    return make([&](interp_value_t** o, interp_error_t** e) { return interp_value_int_from_decimal(decimal.c_str(), o, e); });
  }
  static Value real(double x) {
    return make([x](interp_value_t** o, interp_error_t** e) { return interp_value_double(x, o, e); });
  }
  static Value str(std::string_view s) {
    return make([s](interp_value_t** o, interp_error_t** e) { return interp_value_str(s.data(), s.size(), o, e); });
  }
  static Value bytes(const void* data, std::size_t len) {
    return make([=](interp_value_t** o, interp_error_t** e) { return interp_value_bytes(data, len, o, e); });
  }
  static Value tuple(const std::vector<Value>& items) {
    auto raw = raw_of(items);
    return make([&](interp_value_t** o, interp_error_t** e) { return interp_value_tuple(raw.data(), raw.size(), o, e); });
  }
  static Value list(const std::vector<Value>& items) {
    auto raw = raw_of(items);
    return make([&](interp_value_t** o, interp_error_t** e) { return interp_value_list(raw.data(), raw.size(), o, e); });
  }
  static Value dict(const std::vector<std::pair<Value, Value>>& items) {
    std::vector<const interp_value_t*> k, v;
    for (const auto& kv : items) {
      k.push_back(kv.first.get());
      v.push_back(kv.second.get());
    }
    return make([&](interp_value_t** o, interp_error_t** e) { return interp_value_dict(k.data(), v.data(), k.size(), o, e); });
  }

  interp_value_t* get() const noexcept { return h_.get(); }

  interp_kind_t kind() const {
    interp_kind_t k;
    call([&](interp_error_t** e) { return interp_value_kind(get(), &k, e); });
    return k;
  }
  bool as_bool() const {
    int b = 0;
    call([&](interp_error_t** e) { return interp_value_as_bool(get(), &b, e); });
    return b != 0;
  }
  std::int64_t as_int() const {
    std::int64_t n = 0;
    call([&](interp_error_t** e) { return interp_value_as_int64(get(), &n, e); });
    return n;
  }
  /// Any int as decimal text.
  std::string as_decimal() const {
    char* s = nullptr;
    call([&](interp_error_t** e) { return interp_value_int_to_decimal(get(), &s, e); });
    std::string r(s);
    interp_string_free(s);
    return r;
  }
  double as_double() const {
    double x = 0;
    call([&](interp_error_t** e) { return interp_value_as_double(get(), &x, e); });
    return x;
  }
  /// Borrowed from this value: valid while it lives.
  std::string_view as_str() const {
    const char* p = nullptr;
    std::size_t n = 0;
    call([&](interp_error_t** e) { return interp_value_as_str(get(), &p, &n, e); });
    return std::string_view(p, n);
  }
  std::size_t size() const {
    std::size_t n = 0;
    call([&](interp_error_t** e) { return interp_value_len(get(), &n, e); });
    return n;
  }
  /// Item of a tuple, list or set.
  Value operator[](std::size_t i) const {
    return make([&](interp_value_t** o, interp_error_t** e) { return interp_value_item(get(), i, o, e); });
  }
  bool operator==(const Value& o) const {
    int eq = 0;
    call([&](interp_error_t** e) { return interp_value_equal(get(), o.get(), &eq, e); });
    return eq != 0;
  }
  bool operator!=(const Value& o) const { return !(*this == o); }

 private:
  template <class F>
  static Value make(F f) {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(f(&out, &err), err);
    return Value(out);
  }
  template <class F>
  static void call(F f) {
    interp_error_t* err = nullptr;
    detail::check(f(&err), err);
  }
  static interp_value_t* clone_of(const interp_value_t* h) {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_value_clone(h, &out, &err), err);
    return out;
  }
  static std::vector<const interp_value_t*> raw_of(const std::vector<Value>& items) {
    std::vector<const interp_value_t*> raw;
    raw.reserve(items.size());
    for (const auto& v : items) raw.push_back(v.get());
    return raw;
  }
  detail::Handle<interp_value_t, interp_value_free> h_;
};

/// A submitted task, shaped like std::future<Value>.
class Task {
 public:
  explicit Task(interp_task_t* h) : h_(h) {}
  bool valid() const noexcept { return static_cast<bool>(h_); }
  /// Waits and returns the result (throws interp::Error on failure).
  Value get() const {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_task_wait(h_.get(), -1.0, &out, &err), err);
    return Value(out);
  }
  void wait() const { wait_for(std::chrono::hours(24 * 365)); }
  template <class Rep, class Period>
  std::future_status wait_for(std::chrono::duration<Rep, Period> d) const {
    double secs = std::chrono::duration<double>(d).count();
    if (secs < 0) secs = 0;  // like std::future: a negative wait just looks
    interp_error_t* err = nullptr;
    interp_status_t st = interp_task_wait(h_.get(), secs, nullptr, &err);
    interp_error_free(err);
    if (st == INTERP_PENDING) return std::future_status::timeout;
    if (st == INTERP_ERR_INVALID_HANDLE) detail::check(st, nullptr);
    return std::future_status::ready;
  }
  bool ready() const {
    int done = 0;
    interp_error_t* err = nullptr;
    detail::check(interp_task_poll(h_.get(), &done, &err), err);
    return done != 0;
  }
  /// Cancels (see interp_task_cancel); true if it had not finished yet.
  bool cancel() const {
    int pending = 0;
    interp_error_t* err = nullptr;
    detail::check(interp_task_cancel(h_.get(), &pending, &err), err);
    return pending != 0;
  }
  /// Calls `f()` once when the task finishes, on a worker thread (or now).
  /// Keep it short (hand off to your event loop); exceptions it throws are
  /// swallowed. Do not free the pool from it.
  void on_complete(std::function<void()> f) const {
    auto* heap = new std::function<void()>(std::move(f));
    interp_error_t* err = nullptr;
    interp_status_t st = interp_task_on_complete(h_.get(), &Task::trampoline, heap, &err);
    if (st != INTERP_OK) {
      delete heap;
      detail::check(st, err);
    }
  }
  interp_task_t* handle() const noexcept { return h_.get(); }

 private:
  static void trampoline(interp_task_t*, void* user_data) noexcept {
    auto* f = static_cast<std::function<void()>*>(user_data);
    try {
      if (*f) (*f)();
    } catch (...) {
      // Nothing may unwind into the C library; a throwing callback is dropped.
    }
    delete f;
  }
  detail::Handle<interp_task_t, interp_task_free> h_;
};

/// A pool of isolated interpreters.
class Pool {
 public:
  /// `workers` 0: one per core; `init_source`: Python run in every worker.
  explicit Pool(std::size_t workers = 0, const std::string& init_source = std::string()) {
    interp_pool_options_t opts;
    interp_pool_options_init(&opts);
    opts.workers = workers;
    if (!init_source.empty()) opts.init_source = init_source.c_str();
    interp_pool_t* p = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_pool_new(&opts, &p, &err), err);
    h_ = detail::Handle<interp_pool_t, interp_pool_free>(p);
  }
  /// A pool with any of the C settings (fill `options` with
  /// `interp_pool_options_init` first), e.g. a longer `kill_grace_ms`.
  explicit Pool(const interp_pool_options_t& options) {
    interp_pool_t* p = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_pool_new(&options, &p, &err), err);
    h_ = detail::Handle<interp_pool_t, interp_pool_free>(p);
  }
  /// Submits module.qualname(*args); timeout_seconds > 0 interrupts it when
  /// it runs longer.
  Task submit(const char* module, const char* qualname, const std::vector<Value>& args = {},
              double timeout_seconds = 0) const {
    std::vector<const interp_value_t*> raw;
    for (const auto& v : args) raw.push_back(v.get());
    interp_task_t* t = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_pool_submit(h_.get(), module, qualname, raw.data(), raw.size(), nullptr, nullptr, 0,
                                     timeout_seconds, &t, &err),
                  err);
    return Task(t);
  }
  void shutdown(bool wait = true, bool cancel_pending = false) const {
    interp_error_t* err = nullptr;
    detail::check(interp_pool_shutdown(h_.get(), wait ? 1 : 0, cancel_pending ? 1 : 0, &err), err);
  }

 private:
  detail::Handle<interp_pool_t, interp_pool_free> h_;
};

/// One interpreter.
class Interpreter {
 public:
  explicit Interpreter(bool isolated = true) {
    interp_interpreter_t* i = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_interpreter_new(isolated ? 1 : 0, &i, &err), err);
    h_ = detail::Handle<interp_interpreter_t, interp_interpreter_free>(i);
  }
  void exec(const std::string& source) const {
    interp_error_t* err = nullptr;
    detail::check(interp_interpreter_exec(h_.get(), source.c_str(), &err), err);
  }
  Value eval(const std::string& expression) const {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_interpreter_eval(h_.get(), expression.c_str(), &out, &err), err);
    return Value(out);
  }
  Value call(const char* module, const char* qualname, const std::vector<Value>& args = {}) const {
    std::vector<const interp_value_t*> raw;
    for (const auto& v : args) raw.push_back(v.get());
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_interpreter_call(h_.get(), module, qualname, raw.data(), raw.size(), &out, &err), err);
    return Value(out);
  }

 private:
  detail::Handle<interp_interpreter_t, interp_interpreter_free> h_;
};

/// A channel of values.
class Channel {
 public:
  /// capacity < 0: unbounded.
  explicit Channel(long capacity = -1) {
    interp_channel_t* c = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_channel_new(capacity >= 0 ? 1 : 0, capacity >= 0 ? static_cast<std::size_t>(capacity) : 0, &c, &err),
                  err);
    h_ = detail::Handle<interp_channel_t, interp_channel_free>(c);
  }
  void send(const Value& v, double timeout_seconds = -1) const {
    interp_error_t* err = nullptr;
    detail::check(interp_channel_send(h_.get(), v.get(), timeout_seconds, &err), err);
  }
  Value recv(double timeout_seconds = -1) const {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_channel_recv(h_.get(), timeout_seconds, &out, &err), err);
    return Value(out);
  }
  void close() const {
    interp_error_t* err = nullptr;
    detail::check(interp_channel_close(h_.get(), &err), err);
  }
  /// The channel as a value, to pass to Python.
  Value value() const {
    interp_value_t* out = nullptr;
    interp_error_t* err = nullptr;
    detail::check(interp_channel_value(h_.get(), &out, &err), err);
    return Value(out);
  }

 private:
  detail::Handle<interp_channel_t, interp_channel_free> h_;
};

}  // namespace interp

#endif  // INTERP_HPP
