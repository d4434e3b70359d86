// Result<T>: a value or an Error, for every module boundary in Slotwise.
// Third-party exceptions (Paho, Protobuf, RocksDB) are caught inside their
// adapters and turned into an Error; nothing above an adapter throws.
// The error codes are the wire's (slotwise.v1.ErrorCode), so a refusal can be
// sent to a terminal or an operator exactly as it was raised.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "slotwise/v1/common.pb.h"

namespace slotwise {

using ErrorCode = v1::ErrorCode;

struct Error {
  ErrorCode code = v1::INTERNAL;
  std::string message;

  v1::Error ToProto() const {
    v1::Error e;
    e.set_code(code);
    e.set_message(message);
    return e;
  }
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing but may fail.
struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace slotwise
