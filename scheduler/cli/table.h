// A plain-text table with columns as wide as their widest cell, for the
// human-readable output of the `slotwise` CLI.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace slotwise::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace slotwise::cli
