// make_seeds.cpp — writes the binary seed inputs of the fuzz targets:
// encoded control frames (protocol), NUL-separated command lines (keelctl,
// cinit), and the deeply nested service files. Usage: keel_fuzz_seeds
// CORPUS_DIR (tests/fuzz/corpus). The other text seeds (service files,
// notify messages) are committed as they are.
#include <cstdio>
#include <string>
#include <vector>

#include "control/protocol.hpp"
#include "system/config_codec.hpp"

namespace {

using namespace keel::control;

bool write(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    return false;
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

std::string words(const std::vector<std::string>& list) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out.push_back('\0');
    out += list[i];
  }
  return out;
}

Request request(Verb verb, std::vector<std::string> args, std::uint32_t flags = 0, std::uint32_t lines = 0,
                std::uint32_t timeout_ms = 0) {
  Request r;
  r.verb = verb;
  r.args = std::move(args);
  r.flags = flags;
  r.lines = lines;
  r.timeout_ms = timeout_ms;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;

  // protocol: byte 0 seeds the piece sizes, byte 1 bit 0 the small bound.
  const std::string p = dir + "/protocol/";
  const std::string big = std::string("\x2a", 1) + std::string("\x00", 1);
  const std::string small = std::string("\x07", 1) + std::string("\x01", 1);
  ok &= write(p + "status", big + encode_request(request(Verb::Status, {})));
  ok &= write(p + "status-json-web", big + encode_request(request(Verb::Status, {"web"}, kFlagJson)));
  ok &= write(p + "log-follow", big + encode_request(request(Verb::Log, {"web"}, kFlagFollow, 50)));
  ok &= write(p + "wait-ready", big + encode_request(request(Verb::Wait, {"db"}, kFlagReady, 0, 30000)));
  ok &= write(p + "signal", small + encode_request(request(Verb::Signal, {"web", "SIGHUP"})));
  ok &= write(p + "reload", small + encode_request(request(Verb::Reload, {})));
  ok &= write(p + "reply-stream",
              big + encode_data("web: line 1\n") + encode_data("web: line 2\n") + encode_final(Code::Ok, "done\n"));
  ok &= write(p + "reply-failed", small + encode_final(Code::NoService, "keel: no service 'x'\n"));
  ok &= write(p + "two-requests", big + encode_request(request(Verb::Start, {"a"})) +
                                      encode_request(request(Verb::Stop, {"b"})));

  // keelctl: argv after the program name; a first word "\x01..." is
  // $KEEL_CONTROL_SOCKET.
  const std::string k = dir + "/keelctl/";
  ok &= write(k + "status", words({"status"}));
  ok &= write(k + "status-json", words({"status", "--json", "web"}));
  ok &= write(k + "log", words({"log", "-n", "20", "-f", "web"}));
  ok &= write(k + "log-eq", words({"log", "--lines=5", "web"}));
  ok &= write(k + "wait", words({"wait", "--ready", "--timeout", "30", "db"}));
  ok &= write(k + "signal", words({"signal", "web", "HUP"}));
  ok &= write(k + "socket", words({"\x01/run/other.sock", "--socket", "/run/keel.sock", "restart", "web"}));
  ok &= write(k + "help", words({"--help"}));
  ok &= write(k + "poweroff", words({"poweroff"}));
  ok &= write(k + "dashdash", words({"stop", "--", "-odd-name"}));

  // cinit: byte 0 picks keel / tini / dumb-init (% 3) and pid 1 (bit 2);
  // then the environment word (NAME=VALUE, '\x01'-separated), then argv.
  const std::string c = dir + "/cinit/";
  auto cl = [](char selector, const std::string& env, const std::vector<std::string>& args) {
    return std::string(1, selector) + env + std::string("\0", 1) + words(args);
  };
  ok &= write(c + "keel-plain", cl('\x00', "", {"/bin/sh", "-c", "echo hi"}));
  ok &= write(c + "keel-options", cl('\x04', "", {"--role=subreaper", "-g", "--grace=5", "-r", "15:2", "-e", "143",
                                                   "--", "prog", "-x"}));
  ok &= write(c + "keel-compat", cl('\x00', "", {"--compat=tini", "-s", "--", "prog"}));
  ok &= write(c + "tini", cl('\x01', "TINI_SUBREAPER=1\x01TINI_VERBOSITY=3",
                             {"-v", "-g", "-p", "SIGKILL", "-e", "143", "-w", "--", "prog", "arg"}));
  ok &= write(c + "tini-version", cl('\x01', "", {"--version"}));
  ok &= write(c + "dumb-init", cl('\x02', "DUMB_INIT_SETSID=0\x01DUMB_INIT_DEBUG=1",
                                  {"-r", "15:2", "-r", "1:0", "--single-child", "prog"}));
  ok &= write(c + "dumb-init-help", cl('\x02', "", {"--help"}));
  ok &= write(c + "dumb-init-bad", cl('\x06', "", {"--rewrite", "99:1"}));
  // service: nesting far beyond limits::kTomlMaxDepth (32), which keel
  // refuses before toml++ sees it; toml++ alone overflows the stack on the
  // first two (it recurses per dotted-key part and header table). Up to
  // 100 KB each: scripts/fuzz.sh's -max_len for `service` must hold them.
  const std::string s = dir + "/service/";
  auto repeat = [](const std::string& piece, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += piece;
    return out;
  };
  const std::string command = "command = [\"/bin/true\"]\n";
  ok &= write(s + "deep-dotted-key", command + "a" + repeat(".a", 50'000) + " = 1\n");
  ok &= write(s + "deep-table-header", command + "[a" + repeat(".a", 50'000) + "]\nx = 1\n");
  ok &= write(s + "deep-arrays-and-inline-tables",
              command + "x = " + repeat("[", 1'000) + repeat("]", 1'000) + "\ny = " + repeat("{a = ", 1'000) + "1" +
                  repeat("}", 1'000) + "\n");

  // loader: what the loader child writes to PID 1 (system/config_codec).
  const std::string l = dir + "/loader/";
  keel::Loaded loaded;
  keel::KeelConfigResult& kc = loaded.keel.emplace();
  kc.config.hostname = "box";
  kc.config.exec = {"/app/main"};
  kc.config.signals.term = keel::SignalAction::Poweroff;
  kc.config.mounts = {keel::MountSpec{"tmpfs", "/tmp", "tmpfs", 6, "size=64M", 4}};
  kc.errors = {keel::service::ConfigError{"/etc/keel/keel.toml", 2, "hostname", "expected a string"}};
  kc.found = true;
  keel::service::LoadResult& sv = loaded.services.emplace();
  keel::service::ServiceConfig web;
  web.name = "web";
  web.file = "/etc/keel/services/web.toml";
  web.command = {"/bin/httpd", "-f"};
  web.requires_ = {{"db", 3}};
  web.environment = {{"PORT", "80"}};
  web.umask = 022;
  web.rlimits = {{7, 1024, 4096}};
  web.cgroup.memory_max = 1 << 20;
  web.capabilities = 1 << 10;
  sv.services = {web};
  sv.errors = {keel::service::ConfigError{"/etc/keel/services/typo.toml", 1, "comand", "unknown key"}};
  ok &= write(l + "keel-and-services", keel::encode_loaded(loaded));
  loaded.keel.reset();
  ok &= write(l + "services-only", keel::encode_loaded(loaded));
  loaded.services.reset();
  ok &= write(l + "nothing", keel::encode_loaded(loaded));
  return ok ? 0 : 1;
}
