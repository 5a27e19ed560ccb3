#include "system/kernel_cmdline.hpp"

#include "core/read_file.hpp"

namespace keel {

KernelCmdline parse_kernel_cmdline(std::string_view text) {
  KernelCmdline out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    if (i >= text.size()) break;
    std::string word;
    bool quoted = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      if (!quoted && (c == ' ' || c == '\n' || c == '\t')) break;
      word += c;
    }
    std::string_view w = word;
    if (w.starts_with("keel.target=")) {
      out.target = w.substr(12);
    } else if (w.starts_with("keel.exec=")) {
      out.exec = w.substr(10);
    } else if (w == "keel.debug") {
      out.debug = true;
    } else if (w == "keel.events=console") {
      out.events_console = true;
    } else if (w == "quiet") {
      out.quiet = true;
    } else if (w == "single" || w == "rescue" || w == "keel.rescue" || w == "S" || w == "1") {
      out.rescue = true;
    }
  }
  if (out.rescue) out.target = "rescue";
  return out;
}

KernelCmdline read_kernel_cmdline() {
  std::string text;
  // The command line is at most a few KiB (COMMAND_LINE_SIZE is 2048 on x86).
  if (!read_file("/proc/cmdline", text, 65536)) return {};
  return parse_kernel_cmdline(text);
}

}  // namespace keel
