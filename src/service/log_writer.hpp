// log_writer.hpp — the process that writes the services' log files.
//
// `keel --log-writer`, started by PID 1 (log_writer_link.hpp) with fd 0 the
// receiving end of a SOCK_SEQPACKET socket pair PID 1 holds both ends of.
// It reads one record at a time (log_record.hpp) and applies it to that
// service's file (ServiceFile: rotation, no links followed, the loss
// markers), so a slow, full or frozen log filesystem blocks this process
// and never PID 1. It runs as root, as PID 1 wrote the files before: the
// files keep their owner and mode, and rotation keeps working in
// directories only root may write.
//
// A record is read with MSG_PEEK, written, and only then taken off the
// socket: a writer killed at any point leaves every record it had not
// finished in the socket for the next writer, which PID 1 starts on the
// same socket. Nothing is lost; at most the one record being written when
// the writer died is written twice.
//
// It exits 0 at end of file: PID 1 closed its sending end at shutdown,
// after the last record.
#pragma once

#include <string_view>

namespace keel::service {

inline constexpr std::string_view kLogWriterArg = "--log-writer";

// main() of `keel --log-writer`: the exit status.
int run_log_writer() noexcept;

}  // namespace keel::service
