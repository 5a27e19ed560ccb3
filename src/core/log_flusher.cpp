#include "core/log_flusher.hpp"

#include "core/log.hpp"

namespace keel {

LogFlusher::~LogFlusher() {
  if (loop_ != nullptr) log::set_output_watch(nullptr, nullptr);
}

void LogFlusher::start(EventLoop& loop) noexcept {
  loop_ = &loop;
  log::set_output_watch(&LogFlusher::watch, this);
}

bool LogFlusher::watch(void* context, int fd, bool on) noexcept {
  auto* self = static_cast<LogFlusher*>(context);
  if (!on) {
    self->loop_->remove(fd, *self);
    return true;
  }
  // EPOLLOUT only: EPOLLERR and EPOLLHUP come anyway, and the write in
  // flush_output() then fails and drops the backlog, which unwatches.
  return static_cast<bool>(self->loop_->add(fd, EPOLLOUT, *self));
}

// Every sink is flushed: they share this handler.
void LogFlusher::on_ready(std::uint32_t /*events*/) noexcept { log::flush_output(); }

}  // namespace keel
