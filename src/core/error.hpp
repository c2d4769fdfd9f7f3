// Typed exceptions for failures caused by input (files, requests, configs, command lines).
//
// Layers throw these; the front ends (cli/, later server/) catch them at their boundary and turn
// them into one clear line or an error response. Programmer invariants use assertions instead.
#pragma once

#include <stdexcept>
#include <string>

namespace capibara {

// Base of every input-caused failure; `what()` is a complete, user-facing sentence.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file (GGUF, JSON, vocabulary) that is truncated, corrupted or not what it claims to be.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A file that is well formed but uses something capibara does not implement.
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

// A value supplied by the user (flag, request field, config key) that is out of range.
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

// A capacity limit was reached (queue full, memory guard); the same request may succeed later.
class OverloadedError : public Error {
 public:
  using Error::Error;
};

// The operating system refused something (open, mmap, allocation of a declared size).
class SystemError : public Error {
 public:
  using Error::Error;
};

}  // namespace capibara
