// python_report.cpp — see python_report.hpp.
#include "image/python_report.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "image/builder.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

std::uint64_t entry_size(const ImageEntry& e) {
  if (e.kind != EntryKind::File) return 0;
  if (e.content) return e.content->size();
  std::error_code ec;
  const std::uintmax_t n = fs::file_size(e.source, ec);
  return ec ? 0 : n;
}

std::string padded(std::uint64_t n, int width) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  if (static_cast<int>(out.size()) < width) out.insert(0, static_cast<std::size_t>(width) - out.size(), ' ');
  return out;
}

struct Tally {
  std::uint64_t bytes = 0;
  std::size_t files = 0;
};

// Largest first; ties by name, so the report is stable.
std::vector<std::pair<std::string, Tally>> largest_first(const std::map<std::string, Tally>& m) {
  std::vector<std::pair<std::string, Tally>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.bytes > b.second.bytes; });
  return v;
}

}  // namespace

std::vector<ImportTime> parse_import_times(const std::string& console) {
  std::vector<ImportTime> out;
  std::size_t pos = 0;
  while (pos < console.size()) {
    std::size_t end = console.find('\n', pos);
    if (end == std::string::npos) end = console.size();
    std::string line = console.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t at = line.find("import time:");
    if (at == std::string::npos) continue;
    line = line.substr(at + 12);
    const std::size_t bar1 = line.find('|');
    const std::size_t bar2 = bar1 == std::string::npos ? bar1 : line.find('|', bar1 + 1);
    if (bar2 == std::string::npos) continue;
    unsigned long long self = 0, cumulative = 0;
    if (std::sscanf(line.substr(0, bar1).c_str(), "%llu", &self) != 1) continue;  // the header
    if (std::sscanf(line.substr(bar1 + 1, bar2 - bar1 - 1).c_str(), "%llu", &cumulative) != 1) continue;
    std::string name = line.substr(bar2 + 1);
    if (!name.empty() && name.front() == ' ') name.erase(0, 1);
    // Nesting: two spaces per level after the bar's own space.
    const std::size_t first = name.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    ImportTime t;
    t.depth = static_cast<int>(first / 2);
    t.module = name.substr(first);
    while (!t.module.empty() && t.module.back() == ' ') t.module.pop_back();
    t.self_us = self;
    t.cumulative_us = cumulative;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> python_report(const ImagePlan& plan, const std::vector<ImportTime>& imports) {
  std::map<std::string, Tally> parts, packages, modules;
  std::map<std::string, std::uint64_t> module_bytes;
  std::uint64_t total = 0;
  std::size_t files = 0;
  for (const ImageEntry& e : plan.entries) {
    if (e.kind != EntryKind::File) continue;
    std::string part;
    std::string module;
    if (e.origin == "[python] interpreter") {
      part = "interpreter";
    } else if (e.origin.starts_with("library of [python]")) {
      part = "libraries";
    } else if (e.origin.starts_with("[python] (script")) {
      part = "scripts";
      module = e.origin.substr(9);
    } else if (e.origin.starts_with("[python] ")) {
      module = e.origin.substr(9);
      part = e.path.ends_with(".so") ? "extension modules" : "stdlib .pyc";
    } else {
      continue;
    }
    const std::uint64_t n = entry_size(e);
    total += n;
    ++files;
    Tally& p = parts[part];
    p.bytes += n;
    ++p.files;
    if (!module.empty()) {
      const std::string top = module.starts_with("(") ? module : module.substr(0, module.find('.'));
      Tally& k = packages[top];
      k.bytes += n;
      ++k.files;
      Tally& m = modules[module];
      m.bytes += n;
      ++m.files;
      module_bytes[module] += n;
    }
  }
  std::vector<std::string> out;
  out.push_back("[python] report: " + padded(total, 0) + " bytes in " + std::to_string(files) +
                " files (uncompressed, as stored)");
  out.push_back("by part:");
  for (const auto& [name, t] : largest_first(parts)) {
    out.push_back(padded(t.bytes, 12) + "  " + name + " (" + std::to_string(t.files) + " files)");
  }
  out.push_back("by package:");
  for (const auto& [name, t] : largest_first(packages)) {
    out.push_back(padded(t.bytes, 12) + "  " + name + " (" + std::to_string(t.files) + " files)");
  }
  out.push_back("by module:");
  for (const auto& [name, t] : largest_first(modules)) out.push_back(padded(t.bytes, 12) + "  " + name);
  if (!imports.empty()) {
    std::uint64_t top_level = 0;
    for (const ImportTime& t : imports) {
      if (t.depth == 0) top_level += t.cumulative_us;
    }
    out.push_back("import time by module (" + std::to_string(imports.size()) + " imports, " + padded(top_level, 0) +
                  " us in the top-level ones; cumulative, self, size):");
    std::vector<ImportTime> sorted = imports;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const ImportTime& a, const ImportTime& b) { return a.cumulative_us > b.cumulative_us; });
    for (const ImportTime& t : sorted) {
      const auto size = module_bytes.find(t.module);
      out.push_back(padded(t.cumulative_us, 9) + " us " + padded(t.self_us, 9) + " us " +
                    (size == module_bytes.end() ? std::string(12, ' ') + "-" : padded(size->second, 12) + " B") +
                    "  " + std::string(static_cast<std::size_t>(t.depth) * 2, ' ') + t.module);
    }
  }
  return out;
}

}  // namespace keel::image
