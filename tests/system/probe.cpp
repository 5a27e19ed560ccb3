// keel-testprobe — the program keel's system tests run under keel.
//
// One small binary with a few subcommands, each reporting what it sees as
// plain lines on stdout so a test can wait for an event (a line) instead of
// sleeping. Raw syscalls, no threads, no iostreams: every line is written
// with a single write(2), so lines from several processes sharing the pipe
// never interleave mid-line.
//
//   keel-testprobe status [--wait]
//       Prints, one per line: "SigIgn <16 hex>", "SigBlk <16 hex>",
//       "SigCgt <16 hex>" (from /proc/self/status), "pid N", "ppid N",
//       "pgid N", "sid N", "cwd PATH". "cwd" is always the last line. With
//       --wait it then blocks until stdin reaches EOF. Exit 0.
//
//   keel-testprobe signals [--child] [--exit-on SIGNO]
//       Catches every signal 1..31 except SIGKILL, SIGSTOP and SIGCHLD, and
//       every real-time signal SIGRTMIN..SIGRTMAX (a self-pipe; handlers run
//       with all signals blocked, SA_RESTART). SIGTSTP/SIGTTIN/SIGTTOU are
//       therefore caught, never stopping. Prints
//           ready <pid> <pgid>             (or, with --child,)
//           ready <pid> <pgid> <childpid>
//       once every handler is installed (in the child too), then one line
//           got <signo> <pid>
//       per signal received, in the order the handlers ran, <pid> being the
//       receiving process. Exits 0 when stdin reaches EOF. --child forks one
//       child, which stays in the probe's process group and does the same
//       (its lines carry its own pid), so group delivery can be told from
//       delivery to the main child only. --exit-on SIGNO: exit 0 right after
//       printing the line for SIGNO (main process only).
//       Real-time signals are delivered after every pending standard one, so
//       sending SIGRTMIN straight to a probe process and waiting for its
//       "got <SIGRTMIN> <pid>" line is a barrier: every standard signal sent
//       to that process before has been printed by then.
//
//   keel-testprobe exit N          exit with status N (0..255).
//   keel-testprobe die SIGNO       reset SIGNO to its default action, unblock
//       and raise it (core dumps disabled). Prints "survived SIGNO" and exits
//       125 if the default action does not terminate (SIGCHLD, SIGCONT, ...).
//
//   keel-testprobe orphans N [--wait]
//       Creates N double-forked orphans as fast as it can: fork; that child
//       forks a grandchild and _exits; the probe waitpid()s the child; the
//       grandchild _exits at once (it becomes an orphan or an orphaned zombie,
//       for whoever reaps orphans). Prints "done N". With --wait it then
//       blocks until stdin EOF. Exit 0 (1 if a fork failed).
//
//   keel-testprobe stubborn [--wait]
//       Double-forks a grandchild that ignores SIGTERM, SIGINT and SIGHUP and
//       pauses forever (stdin and stdout on /dev/null, stderr kept). Prints
//       "stubborn <grandchild pid>" once the grandchild's dispositions are
//       set, then (--wait: after stdin EOF) exits 7.
//   keel-testprobe daemon [--wait]
//       The same with a grandchild keeping default dispositions (SIGTERM kills
//       it). Prints "daemon <grandchild pid>", exits 3.
//
//   keel-testprobe wait
//       Prints "ready <pid> <pgid>", blocks until stdin EOF, exits 0. Signal
//       dispositions are left as inherited (a forwarded SIGTERM kills it).
//
//   keel-testprobe notify MESSAGE...
//       Sends each MESSAGE as one datagram to the sd_notify socket in
//       $NOTIFY_SOCKET, with the probe's own credentials, then waits (at
//       most 5 s) until the receiver has read them all: a last "BARRIER=1"
//       datagram carries a pipe's write end, and the receiver closing it is
//       the answer, as systemd-notify does. Prints "notified N" (N messages
//       sent) or "notify failed: ERROR"; exits 0 or 1. Any uid may run it.
//
//   keel-testprobe args [ARGS...]   prints "argc N" then "arg I VALUE" for
//       each argv[I] (I from 0). Exit 0.
//   keel-testprobe env NAME...      prints "env NAME=VALUE" or "env NAME
//       unset" for each NAME. Exit 0.
//
// Every pid printed is as seen by the probe itself: inside a PID namespace it
// is the namespace's pid (see Run::host_pid in harness.hpp). Usage errors
// exit 64 with a message on stderr.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace {

constexpr int kUsage = 64;

void write_all(int fd, const char* buf, std::size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
}

// One line, one write.
__attribute__((format(printf, 1, 2))) void say(const char* fmt, ...) {
  char line[4200];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(line, sizeof line - 1, fmt, args);
  va_end(args);
  if (n < 0) return;
  auto len = static_cast<std::size_t>(n) < sizeof line - 1 ? static_cast<std::size_t>(n) : sizeof line - 2;
  line[len++] = '\n';
  write_all(STDOUT_FILENO, line, len);
}

[[noreturn]] void usage(const char* why) {
  char line[512];
  int n = std::snprintf(line, sizeof line, "keel-testprobe: %s (see the comment at the top of probe.cpp)\n", why);
  if (n > 0) write_all(STDERR_FILENO, line, static_cast<std::size_t>(n));
  ::_exit(kUsage);
}

bool parse_int(const char* text, int lo, int hi, int* out) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

// Block until stdin reaches EOF (or fails). Data read is discarded.
void wait_stdin_eof() {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) return;
  }
}

// --------------------------------------------------------------- status

void print_status_field(const char* text, const char* key) {
  std::size_t key_len = std::strlen(key);
  for (const char* line = text; *line != '\0';) {
    const char* end = std::strchr(line, '\n');
    std::size_t len = end != nullptr ? static_cast<std::size_t>(end - line) : std::strlen(line);
    if (len > key_len && std::strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
      const char* v = line + key_len + 1;
      while (*v == '\t' || *v == ' ') ++v;
      say("%s %.*s", key, static_cast<int>(len - static_cast<std::size_t>(v - line)), v);
      return;
    }
    if (end == nullptr) break;
    line = end + 1;
  }
  say("%s ?", key);
}

int cmd_status(int argc, char** argv) {
  bool wait = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--wait") == 0) {
      wait = true;
    } else {
      usage("status: unknown argument");
    }
  }
  char text[8192] = {};
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    std::size_t used = 0;
    for (;;) {
      ssize_t n = ::read(fd, text + used, sizeof text - 1 - used);
      if (n <= 0) break;
      used += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  print_status_field(text, "SigIgn");
  print_status_field(text, "SigBlk");
  print_status_field(text, "SigCgt");
  say("pid %d", static_cast<int>(::getpid()));
  say("ppid %d", static_cast<int>(::getppid()));
  say("pgid %d", static_cast<int>(::getpgrp()));
  say("sid %d", static_cast<int>(::getsid(0)));
  char cwd[4096];
  say("cwd %s", ::getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?");
  if (wait) wait_stdin_eof();
  return 0;
}

// -------------------------------------------------------------- signals

int g_self_pipe_w = -1;

void on_signal(int signo) {
  int saved = errno;
  auto byte = static_cast<unsigned char>(signo);
  ssize_t ignored = ::write(g_self_pipe_w, &byte, 1);
  (void)ignored;
  errno = saved;
}

// Create this process's self-pipe and catch everything catchable but SIGCHLD.
// Returns the read end.
int install_signal_reporting() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("keel-testprobe: pipe2");
    ::_exit(1);
  }
  g_self_pipe_w = p[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || signo == SIGCHLD) continue;
    if (signo > 31 && signo < SIGRTMIN) continue;  // glibc's own
    if (::sigaction(signo, &sa, nullptr) != 0) {
      std::perror("keel-testprobe: sigaction");
      ::_exit(1);
    }
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  return p[0];
}

// Report signals until stdin reaches EOF (or `exit_on` arrives). Returns
// true when stdin ended, false when exit_on was seen.
bool report_signals(int self_pipe_r, int exit_on) {
  int pid = static_cast<int>(::getpid());
  for (;;) {
    pollfd fds[2] = {{self_pipe_r, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return true;
    }
    // Signals first: a signal and EOF arriving together are both reported.
    if ((fds[0].revents & POLLIN) != 0) {
      unsigned char buf[256];
      ssize_t got = ::read(self_pipe_r, buf, sizeof buf);
      for (ssize_t i = 0; i < got; ++i) {
        say("got %d %d", buf[i], pid);
        if (buf[i] == exit_on) return false;
      }
      continue;  // drain everything before looking at stdin
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0) {
      char buf[256];
      ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) return true;
    }
  }
}

int cmd_signals(int argc, char** argv) {
  bool with_child = false;
  int exit_on = -1;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--child") == 0) {
      with_child = true;
    } else if (std::strcmp(argv[i], "--exit-on") == 0 && i + 1 < argc) {
      if (!parse_int(argv[++i], 1, 64, &exit_on)) usage("signals: bad --exit-on");
    } else {
      usage("signals: unknown argument");
    }
  }
  pid_t child = -1;
  if (with_child) {
    int sync[2];
    if (::pipe2(sync, O_CLOEXEC) != 0) return 1;
    child = ::fork();
    if (child < 0) return 1;
    if (child == 0) {
      ::close(sync[0]);
      int r = install_signal_reporting();
      char ok = 'k';
      write_all(sync[1], &ok, 1);
      ::close(sync[1]);
      report_signals(r, -1);
      ::_exit(0);
    }
    ::close(sync[1]);
    char ok = 0;
    ssize_t n;
    do {
      n = ::read(sync[0], &ok, 1);
    } while (n < 0 && errno == EINTR);
    ::close(sync[0]);
    if (n != 1) {
      say("error: the probe's child did not start");
      return 1;
    }
  }
  int r = install_signal_reporting();
  if (with_child) {
    say("ready %d %d %d", static_cast<int>(::getpid()), static_cast<int>(::getpgrp()), static_cast<int>(child));
  } else {
    say("ready %d %d", static_cast<int>(::getpid()), static_cast<int>(::getpgrp()));
  }
  bool eof = report_signals(r, exit_on);
  if (child > 0) {
    if (!eof) ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  return 0;
}

// ------------------------------------------------------------ exit, die

int cmd_exit(int argc, char** argv) {
  int code = 0;
  if (argc != 1 || !parse_int(argv[0], 0, 255, &code)) usage("exit: expected one code 0..255");
  return code;
}

int cmd_die(int argc, char** argv) {
  int signo = 0;
  if (argc != 1 || !parse_int(argv[0], 1, 64, &signo)) usage("die: expected one signal number");
  // core_pattern may write "core" files into the test's directory: no dumps.
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(signo, &dfl, nullptr);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
  ::kill(::getpid(), signo);
  say("survived %d", signo);
  return 125;
}

// -------------------------------------------------------------- orphans

int cmd_orphans(int argc, char** argv) {
  int count = -1;
  bool wait = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--wait") == 0) {
      wait = true;
    } else if (count < 0 && parse_int(argv[i], 0, 10'000'000, &count)) {
    } else {
      usage("orphans: expected N [--wait]");
    }
  }
  if (count < 0) usage("orphans: expected N [--wait]");
  for (int i = 0; i < count; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      if (errno == EAGAIN || errno == ENOMEM) {  // a transient limit: try again shortly
        ::usleep(1000);
        --i;
        continue;
      }
      say("error: fork: %s", std::strerror(errno));
      return 1;
    }
    if (pid == 0) {
      // The middle process: fork the grandchild and go.
      for (int tries = 0; tries < 1000 && ::fork() < 0; ++tries) ::usleep(1000);
      ::_exit(0);  // the grandchild too, at once
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  say("done %d", count);
  if (wait) wait_stdin_eof();
  return 0;
}

// ------------------------------------------------------ stubborn, daemon

int leave_grandchild(int argc, char** argv, const char* what, bool ignore_term, int code) {
  bool wait = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--wait") == 0) {
      wait = true;
    } else {
      usage("expected [--wait]");
    }
  }
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) != 0) return 1;
  pid_t middle = ::fork();
  if (middle < 0) return 1;
  if (middle == 0) {
    ::close(sync[0]);
    pid_t gc = ::fork();
    if (gc < 0) ::_exit(1);
    if (gc == 0) {
      struct sigaction sa {};
      sa.sa_handler = ignore_term ? SIG_IGN : SIG_DFL;
      sigemptyset(&sa.sa_mask);
      for (int signo : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signo, &sa, nullptr);
      int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::close(null);
      }
      int self = static_cast<int>(::getpid());
      write_all(sync[1], reinterpret_cast<const char*>(&self), sizeof self);
      ::close(sync[1]);
      for (;;) ::pause();
    }
    ::_exit(0);
  }
  ::close(sync[1]);
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  int gc = -1;
  ssize_t n;
  do {
    n = ::read(sync[0], &gc, sizeof gc);
  } while (n < 0 && errno == EINTR);
  ::close(sync[0]);
  if (n != static_cast<ssize_t>(sizeof gc)) {
    say("error: no grandchild");
    return 1;
  }
  say("%s %d", what, gc);
  if (wait) wait_stdin_eof();
  return code;
}

// ------------------------------------------------------ wait, args, env

int cmd_wait(int argc, char**) {
  if (argc != 0) usage("wait: takes no arguments");
  say("ready %d %d", static_cast<int>(::getpid()), static_cast<int>(::getpgrp()));
  wait_stdin_eof();
  return 0;
}

int cmd_args(int argc, char** argv) {
  // argv here starts at the subcommand's arguments; print the whole argv.
  char** full = argv - 2;
  int full_argc = argc + 2;
  say("argc %d", full_argc);
  for (int i = 0; i < full_argc; ++i) say("arg %d %s", i, full[i]);
  return 0;
}

int cmd_env(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const char* v = std::getenv(argv[i]);
    if (v != nullptr) {
      say("env %s=%s", argv[i], v);
    } else {
      say("env %s unset", argv[i]);
    }
  }
  return 0;
}

int cmd_notify(int argc, char** argv) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || std::strlen(path) >= sizeof(sockaddr_un{}.sun_path)) {
    say("notify failed: no usable NOTIFY_SOCKET");
    return 1;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int p[2];
  if (fd < 0 || ::pipe2(p, O_CLOEXEC) != 0) {
    say("notify failed: %s", std::strerror(errno));
    return 1;
  }
  for (int i = 0; i < argc; ++i) {
    if (::sendto(fd, argv[i], std::strlen(argv[i]), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      say("notify failed: %s", std::strerror(errno));
      return 1;
    }
  }
  char text[] = "BARRIER=1";
  iovec iov{text, sizeof text - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  if (::sendmsg(fd, &msg, 0) < 0) {
    say("notify failed: %s", std::strerror(errno));
    return 1;
  }
  ::close(p[1]);
  pollfd pfd{p[0], POLLIN, 0};
  if (::poll(&pfd, 1, 5000) != 1) {
    say("notify failed: no barrier answer within 5 s");
    return 1;
  }
  say("notified %d", argc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("expected a subcommand");
  const char* cmd = argv[1];
  int rest_argc = argc - 2;
  char** rest = argv + 2;
  if (std::strcmp(cmd, "status") == 0) return cmd_status(rest_argc, rest);
  if (std::strcmp(cmd, "signals") == 0) return cmd_signals(rest_argc, rest);
  if (std::strcmp(cmd, "exit") == 0) return cmd_exit(rest_argc, rest);
  if (std::strcmp(cmd, "die") == 0) return cmd_die(rest_argc, rest);
  if (std::strcmp(cmd, "orphans") == 0) return cmd_orphans(rest_argc, rest);
  if (std::strcmp(cmd, "stubborn") == 0) return leave_grandchild(rest_argc, rest, "stubborn", true, 7);
  if (std::strcmp(cmd, "daemon") == 0) return leave_grandchild(rest_argc, rest, "daemon", false, 3);
  if (std::strcmp(cmd, "wait") == 0) return cmd_wait(rest_argc, rest);
  if (std::strcmp(cmd, "args") == 0) return cmd_args(rest_argc, rest);
  if (std::strcmp(cmd, "env") == 0) return cmd_env(rest_argc, rest);
  if (std::strcmp(cmd, "notify") == 0) return cmd_notify(rest_argc, rest);
  usage("unknown subcommand");
}
